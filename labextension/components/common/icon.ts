import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 3h2v16h16v2H3z"/>
    <path d="M7 15l4-5 3 3 5-7 1.6 1.2-6.4 9-3-3-2.6 3.3z"/>
  </g>
</svg>`;

/** The icon of the MLOps sidebar tab and of the views it opens. */
export const mlopsIcon = new LabIcon({ name: 'mlops-nb:icon', svgstr: svg });
