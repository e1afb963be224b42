import './base.css';
import './lifecycle.css';
import './datasets.css';
import './detail.css';
