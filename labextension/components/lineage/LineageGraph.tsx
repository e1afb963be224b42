import * as React from 'react';

import { api } from '../../api';
import type { LineageGraph as Graph, LineageNode, LineageNodeType, ModelVersionRef } from '../../types';
import { useAsync } from '../common/hooks';

/** Left to right: what was produced, the run, what it used, the code it ran at. */
const COLUMN: Record<LineageNodeType, number> = {
  model_version: 0,
  pipeline_run: 1,
  run: 1,
  dataset: 2,
  notebook: 2,
  commit: 3
};
const NODE_W = 190;
const NODE_H = 44;
const GAP_X = 70;
const GAP_Y = 16;

interface Placed {
  node: LineageNode;
  x: number;
  y: number;
}

function layout(graph: Graph): { placed: Map<string, Placed>; width: number; height: number } {
  const columns: LineageNode[][] = [[], [], [], []];
  for (const node of graph.nodes) {
    columns[COLUMN[node.type] ?? 2].push(node);
  }
  const used = columns.filter(c => c.length > 0);
  const placed = new Map<string, Placed>();
  used.forEach((column, ci) => {
    // pipeline runs above runs, the root run first
    column.sort((a, b) => Number(b.id === graph.root) - Number(a.id === graph.root) || a.type.localeCompare(b.type));
    column.forEach((node, ri) => placed.set(node.id, { node, x: ci * (NODE_W + GAP_X), y: ri * (NODE_H + GAP_Y) }));
  });
  const rows = Math.max(1, ...used.map(c => c.length));
  return {
    placed,
    width: Math.max(1, used.length) * (NODE_W + GAP_X) - GAP_X + 2,
    height: rows * (NODE_H + GAP_Y) - GAP_Y + 2
  };
}

function runIdOf(node: LineageNode): string {
  const id = node.data.run_id;
  return typeof id === 'string' ? id : node.id.slice(node.id.indexOf(':') + 1);
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The lineage graph as SVG; every label is a React text node (escaped). Runs are clickable. */
export function LineageView(props: { graph: Graph; openRun: (runId: string, name: string) => void }): JSX.Element {
  const { graph } = props;
  const { placed, width, height } = React.useMemo(() => layout(graph), [graph]);
  return (
    <div className="mlops-nb-lineage-scroll">
      <svg className="mlops-nb-lineage" width={width} height={height} role="img" aria-label="lineage graph">
        {graph.edges.map(edge => {
          const a = placed.get(edge.source);
          const b = placed.get(edge.target);
          if (!a || !b) {
            return null;
          }
          const [from, to] = a.x <= b.x ? [a, b] : [b, a];
          const x1 = from.x + NODE_W;
          const y1 = from.y + NODE_H / 2;
          const x2 = to.x === from.x ? to.x + NODE_W : to.x;
          const y2 = to.y + NODE_H / 2;
          const mid = x1 === x2 ? x1 + 30 : (x1 + x2) / 2;
          return (
            <g key={`${edge.source}->${edge.target}`} className="mlops-nb-edge">
              <path d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} />
              <title>{edge.relation}</title>
            </g>
          );
        })}
        {Array.from(placed.values()).map(({ node, x, y }) => {
          const runId = node.type === 'run' || node.type === 'pipeline_run' ? runIdOf(node) : null;
          return (
            <g
              key={node.id}
              className={`mlops-nb-node mlops-nb-node-${node.type}${node.id === graph.root ? ' mlops-nb-node-root' : ''}${runId ? ' mlops-nb-clickable' : ''}`}
              data-node-id={node.id}
              transform={`translate(${x},${y})`}
              onClick={runId ? () => props.openRun(runId, node.label) : undefined}
            >
              <rect width={NODE_W} height={NODE_H} rx={6} />
              <text x={8} y={16} className="mlops-nb-node-type">
                {node.type.replace('_', ' ')}
              </text>
              <text x={8} y={34} className="mlops-nb-node-label">
                {clip(node.label, 28)}
              </text>
              <title>{`${node.label}\n${node.id}`}</title>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

/** Loads and draws the lineage of a run, or of one of the model versions it produced. */
export function RunLineage(props: {
  runId: string;
  modelVersions: ModelVersionRef[];
  refreshKey: number;
  openRun: (runId: string, name: string) => void;
}): JSX.Element {
  const [model, setModel] = React.useState<ModelVersionRef | null>(null);
  const { value, error, loading } = useAsync(
    () => (model ? api.modelVersionLineage(model.name, model.version) : api.runLineage(props.runId)),
    [props.runId, model, props.refreshKey]
  );
  return (
    <section className="mlops-nb-section mlops-nb-lineage-section">
      <h3>Lineage</h3>
      <div className="mlops-nb-toolbar">
        <button className={`mlops-nb-chip mlops-nb-link${model ? '' : ' mlops-nb-active'}`} onClick={() => setModel(null)}>
          this run
        </button>
        {props.modelVersions.map(mv => (
          <button
            key={`${mv.name}/${mv.version}`}
            className={`mlops-nb-chip mlops-nb-link mlops-nb-model-version${model === mv ? ' mlops-nb-active' : ''}`}
            title="Lineage of this registered model version"
            onClick={() => setModel(mv)}
          >
            {mv.name} v{mv.version}
            {mv.aliases?.length ? ` @${mv.aliases.join(', @')}` : ''}
          </button>
        ))}
      </div>
      {loading && !value ? <div className="mlops-nb-muted">Loading…</div> : null}
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {value ? <LineageView graph={value} openRun={props.openRun} /> : null}
    </section>
  );
}
