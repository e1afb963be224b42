import * as React from 'react';

import type { Config, Data, Layout } from 'plotly.js';

type PlotlyModule = typeof import('plotly.js-cartesian-dist-min');

let plotly: Promise<PlotlyModule> | null = null;

/** plotly.js (its cartesian bundle, 1.4 MB) is large: load it once, when a view that draws charts opens (call early to overlap a fetch). */
export function loadPlotly(): Promise<PlotlyModule> {
  plotly ??= import('plotly.js-cartesian-dist-min');
  return plotly;
}

/**
 * Escape text that plotly would parse as its HTML subset (names, labels, hover text from run data),
 * so `<img src=x onerror=...>` is drawn as those characters.
 */
export function plotText(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const CONFIG: Partial<Config> = { displaylogo: false, responsive: true };

/** A plotly chart; `data-drawn="true"` marks it once drawn (the browser test waits for it). */
export function Plot(props: {
  data: Data[];
  layout: Partial<Layout>;
  className?: string;
  height?: number;
}): JSX.Element {
  const element = React.useRef<HTMLDivElement>(null);
  const [error, setError] = React.useState<string | null>(null);
  const { data, layout, height } = props;

  React.useEffect(() => {
    let current = true;
    const div = element.current;
    if (!div) {
      return;
    }
    div.dataset.drawn = 'false';
    loadPlotly()
      .then(Plotly =>
        Plotly.react(
          div,
          data,
          {
            height: height ?? 320,
            margin: { l: 56, r: 24, t: 36, b: 48 },
            paper_bgcolor: 'rgba(0,0,0,0)',
            plot_bgcolor: 'rgba(0,0,0,0)',
            font: { size: 11 },
            ...layout
          },
          CONFIG
        )
      )
      .then(
        () => {
          if (current) {
            div.dataset.drawn = 'true';
            setError(null);
          }
        },
        (reason: unknown) => current && setError(String(reason))
      );
    return () => {
      current = false;
    };
  }, [data, layout, height]);

  React.useEffect(() => {
    const div = element.current;
    return () => {
      if (div) {
        void loadPlotly().then(Plotly => Plotly.purge(div));
      }
    };
  }, []);

  return (
    <div className={`mlops-nb-plot ${props.className ?? ''}`}>
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      <div ref={element} />
    </div>
  );
}
