/** plotly.js's cartesian bundle (scatter, bar, heatmap, …): the API of plotly.js, a third of the full bundle's size. */
declare module 'plotly.js-cartesian-dist-min' {
  import * as Plotly from 'plotly.js';
  export = Plotly;
}
