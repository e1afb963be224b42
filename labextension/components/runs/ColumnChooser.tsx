import * as React from 'react';

import type { RunColumns } from '../../types';
import { columnId } from './columns';

/** Where the chosen columns live: the extension's settings (`runColumns`, per experiment name). */
export interface ColumnStore {
  /** The saved choice for an experiment, or null when the user has not chosen (defaults apply). */
  get: (experiment: string) => string[] | null;
  /** Save a choice (null: back to the defaults). */
  set: (experiment: string, ids: string[] | null) => Promise<void>;
}

const METRIC_ORDER = ['pipeline', 'notebook', 'evaluation', 'internal', 'slice', 'autolog'];
const PARAM_ORDER = ['user', 'internal', 'autolog'];
const LABELS: Record<string, string> = {
  pipeline: "pipeline's metric",
  notebook: 'logged by the notebook',
  evaluation: 'evaluation',
  internal: 'mlops_nb',
  slice: 'per slice',
  autolog: 'MLflow autolog',
  user: 'parameters cell and config'
};

interface Group {
  title: string;
  kind: 'params' | 'metrics' | 'tags';
  keys: string[];
}

function groups(columns: RunColumns): Group[] {
  const found: Group[] = [];
  const byKind = (kind: 'params' | 'metrics', order: string[]): void => {
    const kinds = columns.kinds?.[kind] ?? {};
    for (const group of order) {
      const keys = columns[kind].filter(key => (kinds[key] ?? order[0]) === group);
      if (keys.length) {
        found.push({ title: `${kind === 'params' ? 'Params' : 'Metrics'}: ${LABELS[group] ?? group}`, kind, keys });
      }
    }
  };
  byKind('metrics', METRIC_ORDER);
  byKind('params', PARAM_ORDER);
  if (columns.tags?.length) {
    found.push({ title: 'Tags', kind: 'tags', keys: columns.tags });
  }
  return found;
}

/** A "Columns" button opening the list of every param, metric and tag, grouped by kind, to show or hide. */
export function ColumnChooser(props: {
  columns: RunColumns;
  chosen: string[];
  isDefault: boolean;
  onChange: (ids: string[] | null) => void;
}): JSX.Element {
  const [open, setOpen] = React.useState(false);
  const [search, setSearch] = React.useState('');
  const toggle = (id: string): void => {
    props.onChange(props.chosen.includes(id) ? props.chosen.filter(c => c !== id) : [...props.chosen, id]);
  };
  const needle = search.trim().toLowerCase();
  return (
    <span className="mlops-nb-column-chooser">
      <button
        className="mlops-nb-button mlops-nb-columns-button"
        title="Choose the columns (saved in the settings)"
        onClick={() => setOpen(!open)}
      >
        Columns ({props.chosen.length})
      </button>
      {open ? (
        <div className="mlops-nb-columns-menu" role="dialog" aria-label="Columns">
          <div className="mlops-nb-columns-tools">
            <input
              type="search"
              placeholder="find a column"
              value={search}
              onChange={event => setSearch(event.target.value)}
            />
            <button className="mlops-nb-link" disabled={props.isDefault} onClick={() => props.onChange(null)}>
              defaults
            </button>
            <button className="mlops-nb-link" onClick={() => setOpen(false)}>
              close
            </button>
          </div>
          {groups(props.columns).map(group => {
            const keys = group.keys.filter(key => !needle || key.toLowerCase().includes(needle));
            return keys.length ? (
              <fieldset key={group.title} className="mlops-nb-columns-group">
                <legend>{group.title}</legend>
                {keys.map(key => {
                  const id = columnId(group.kind, key);
                  return (
                    <label key={id} className="mlops-nb-columns-option" title={key} data-column={id}>
                      <input type="checkbox" checked={props.chosen.includes(id)} onChange={() => toggle(id)} />
                      {key}
                    </label>
                  );
                })}
              </fieldset>
            ) : null;
          })}
        </div>
      ) : null}
    </span>
  );
}
