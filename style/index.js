import './base.css';
import './lifecycle.css';
import './datasets.css';
import './runs.css';
import './detail.css';
