/** The last `mlops-nb deploy-check` of a model version: its verdict and one line per check. */
import * as React from 'react';

import type { DeployCheck } from '../../types';

function mark(passed: boolean | null | undefined): string {
  return passed === true ? 'pass' : passed === false ? 'fail' : 'none';
}

export function DeployCheckSection(props: { model: string; check: DeployCheck | null }): JSX.Element {
  const { check } = props;
  if (!check) {
    return (
      <div className="mlops-nb-muted mlops-nb-deploy-check">
        Never checked: run <code>mlops-nb deploy-check {props.model}@ALIAS</code>.
      </div>
    );
  }
  return (
    <div className="mlops-nb-deploy-check">
      <div className="mlops-nb-muted">
        last:{' '}
        <span className={`mlops-nb-verdict mlops-nb-verdict-${check.verdict === 'passed' ? 'pass' : 'fail'}`}>
          {check.verdict}
        </span>{' '}
        {check.at ? `(${check.at})` : ''}
      </div>
      <ul className="mlops-nb-deploy-checks">
        {check.checks.map(item => (
          <li key={item.name} data-check={item.name}>
            <span className={`mlops-nb-verdict mlops-nb-verdict-${mark(item.passed)}`}>{item.name}</span>{' '}
            {item.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
