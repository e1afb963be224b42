import * as React from 'react';

import type { Comparison } from '../../types';
import { RunHeaderRow } from './RunHeaderRow';

/** Params side by side, one column per run; "differences only" hides params equal in every run. */
export function ParamsTable(props: { comparison: Comparison }): JSX.Element {
  const [diffOnly, setDiffOnly] = React.useState(false);
  const { comparison } = props;
  const rows = diffOnly ? comparison.params.filter(p => p.differs) : comparison.params;
  const hidden = comparison.params.length - rows.length;
  return (
    <section className="mlops-nb-section mlops-nb-params-compare">
      <h3>
        Params
        <label className="mlops-nb-toggle">
          <input
            type="checkbox"
            className="mlops-nb-diff-only"
            checked={diffOnly}
            onChange={event => setDiffOnly(event.target.checked)}
          />
          differences only
        </label>
        {hidden ? <span className="mlops-nb-muted"> ({hidden} equal hidden)</span> : null}
      </h3>
      <div className="mlops-nb-table-wrap">
        <table className="mlops-nb-table">
          <thead>
            <RunHeaderRow comparison={comparison} label="param" />
          </thead>
          <tbody>
            {rows.map(param => (
              <tr key={param.key} data-param={param.key} className={param.differs ? 'mlops-nb-differs' : ''}>
                <th>{param.key}</th>
                {param.values.map((value, i) => (
                  <td key={comparison.runs[i]?.run_id ?? i}>{value ?? '—'}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
