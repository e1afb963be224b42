import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { api } from '../../api';
import type { Comparison } from '../../types';
import { useAsync } from '../common/hooks';
import { loadPlotly, Plot } from '../common/Plot';
import { metricCurves, paramScatter, runLabel } from './charts';
import { MetricsTable } from './MetricsTable';
import { parallelCoordinates } from './parcoords';
import { ParamsTable } from './ParamsTable';

function Select(props: {
  label: string;
  value: string;
  options: string[];
  onChange: (value: string) => void;
  className: string;
}): JSX.Element {
  return (
    <label className="mlops-nb-select">
      {props.label}{' '}
      <select className={props.className} value={props.value} onChange={e => props.onChange(e.target.value)}>
        {props.options.map(option => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    </label>
  );
}

function Charts(props: { comparison: Comparison }): JSX.Element {
  const { comparison } = props;
  const { chart } = comparison;
  const kindOrder = ['pipeline', 'notebook', 'evaluation', 'internal', 'slice', 'autolog'];
  const rank = (key: string): number => kindOrder.indexOf(chart.metric_kinds[key] ?? 'autolog');
  // the metrics that matter first (pipeline's, notebook's), autolog and slices last
  const metricKeys = comparison.metrics.map(m => m.key).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const paramKeys = [...chart.axes, ...comparison.params.map(p => p.key).filter(k => !chart.axes.includes(k))];
  const firstDiffering = chart.axes[0] ?? comparison.params.find(p => p.differs)?.key ?? paramKeys[0] ?? '';
  const [metricKey, setMetricKey] = React.useState(chart.default_metric ?? metricKeys[0] ?? '');
  const [paramKey, setParamKey] = React.useState(firstDiffering);
  const metric = comparison.metrics.find(m => m.key === metricKey);
  const param = comparison.params.find(p => p.key === paramKey);
  const parcoords = React.useMemo(() => parallelCoordinates(comparison, metric), [comparison, metric]);
  const curves = React.useMemo(() => metricCurves(comparison, metric), [comparison, metric]);
  const scatter = React.useMemo(() => paramScatter(comparison, param, metric), [comparison, param, metric]);
  return (
    <>
      <div className="mlops-nb-toolbar">
        <Select label="metric" className="mlops-nb-metric-select" value={metricKey} options={metricKeys} onChange={setMetricKey} />
        {metricKey && metricKey === chart.default_metric ? (
          <span className="mlops-nb-muted mlops-nb-default-metric">
            default: {chart.metric_kinds[metricKey] === 'pipeline' ? "the pipeline's model.metric" : 'the metric the notebook logged last'}
          </span>
        ) : null}
        <Select label="scatter param" className="mlops-nb-param-select" value={paramKey} options={paramKeys} onChange={setParamKey} />
      </div>
      <div className="mlops-nb-charts">
        <Plot className="mlops-nb-parcoords" data={parcoords.data} layout={parcoords.layout} height={360} />
        <Plot className="mlops-nb-curves" data={curves.data} layout={curves.layout} />
        <Plot className="mlops-nb-scatter" data={scatter.data} layout={scatter.layout} />
      </div>
    </>
  );
}

/** Compare N runs: parallel coordinates, metric curves, a param/metric scatter, params and metrics tables. */
export function CompareView(props: {
  runIds: string[];
  openRun: (runId: string, name: string) => void;
}): JSX.Element {
  const { value, error, loading, reload } = useAsync(() => {
    void loadPlotly(); // parse plotly.js while the server compares
    return api.compare({ run_ids: props.runIds, histories: true });
  }, [props.runIds]);
  return (
    <div className="mlops-nb-compare">
      <div className="mlops-nb-toolbar">
        <h2>Compare {props.runIds.length} runs</h2>
        <button className="mlops-nb-button" onClick={reload}>
          ⟳ Refresh
        </button>
        {loading ? <span className="mlops-nb-muted">Loading…</span> : null}
      </div>
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {value ? (
        <>
          <div className="mlops-nb-run-chips">
            {value.runs.map(run => (
              <button
                key={run.run_id}
                className="mlops-nb-link mlops-nb-chip"
                title={`${run.run_name} (${run.run_id})`}
                onClick={() => props.openRun(run.run_id, run.run_name)}
              >
                {runLabel(run)}
              </button>
            ))}
          </div>
          <Charts comparison={value} />
          <ParamsTable comparison={value} />
          <MetricsTable comparison={value} />
        </>
      ) : null}
    </div>
  );
}

/** The compare view as a main-area widget. */
export class CompareWidget extends ReactWidget {
  constructor(private readonly _options: { runIds: string[]; openRun: (runId: string, name: string) => void }) {
    super();
    this.addClass('mlops-nb-main');
  }

  protected render(): JSX.Element {
    return <CompareView runIds={this._options.runIds} openRun={this._options.openRun} />;
  }
}
