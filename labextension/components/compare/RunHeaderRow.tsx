import * as React from 'react';

import type { Comparison } from '../../types';
import { runLabel } from './charts';

/** The header row of a comparison table: the row-label column, then one column per compared run. */
export function RunHeaderRow(props: { comparison: Comparison; label: string }): JSX.Element {
  return (
    <tr>
      <th>{props.label}</th>
      {props.comparison.runs.map(run => (
        <th key={run.run_id} title={`${run.run_name} (${run.run_id})`}>
          {runLabel(run)}
        </th>
      ))}
    </tr>
  );
}
