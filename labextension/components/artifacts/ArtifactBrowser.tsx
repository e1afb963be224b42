import { folderIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { ArtifactEntry } from '../../types';
import { errorMessage } from '../common/format';
import { useAsync } from '../common/hooks';
import { listArtifacts, openArtifactNotebook, readArtifact } from './artifactsApi';

type Shown =
  | { kind: 'text' | 'json' | 'html'; path: string; text: string }
  | { kind: 'image'; path: string; url: string };

function formatSize(size: number | null | undefined): string {
  if (size === null || size === undefined) {
    return '';
  }
  if (size < 1024) {
    return `${size} B`;
  }
  return size < 1 << 20 ? `${(size / 1024).toFixed(1)} KiB` : `${(size / (1 << 20)).toFixed(1)} MiB`;
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** The opened file: text and JSON as text, HTML in a frame sandboxed without scripts, images as images. */
function Viewer(props: { shown: Shown; close: () => void }): JSX.Element {
  const { shown } = props;
  let body: JSX.Element;
  if (shown.kind === 'image') {
    body = <img className="mlops-nb-artifact-image" src={shown.url} alt={shown.path} />;
  } else if (shown.kind === 'html') {
    body = (
      <iframe
        className="mlops-nb-artifact-html"
        sandbox=""
        referrerPolicy="no-referrer"
        title={shown.path}
        srcDoc={shown.text}
      />
    );
  } else {
    body = <pre className="mlops-nb-artifact-text">{shown.kind === 'json' ? prettyJson(shown.text) : shown.text}</pre>;
  }
  return (
    <div className="mlops-nb-artifact-viewer" data-path={shown.path}>
      <div className="mlops-nb-toolbar">
        <code>{shown.path}</code>
        <button className="mlops-nb-button" onClick={props.close}>
          Close
        </button>
      </div>
      {body}
    </div>
  );
}

/** A run's artifacts, folder by folder; files open inline, notebooks in JupyterLab. */
export function ArtifactBrowser(props: { runId: string; openFile: (path: string) => void }): JSX.Element {
  const { runId } = props;
  const [folder, setFolder] = React.useState('');
  const [shown, setShown] = React.useState<Shown | null>(null);
  const [message, setMessage] = React.useState<string | null>(null);
  const { value, error, loading } = useAsync(() => listArtifacts(runId, folder), [runId, folder]);

  React.useEffect(
    () => () => {
      if (shown?.kind === 'image') {
        URL.revokeObjectURL(shown.url);
      }
    },
    [shown]
  );

  const open = (entry: ArtifactEntry): void => {
    setMessage(null);
    if (entry.is_dir) {
      setShown(null);
      setFolder(entry.path);
      return;
    }
    if (entry.kind === 'notebook') {
      openArtifactNotebook(runId, entry.path).then(
        copy => props.openFile(copy.path),
        (reason: unknown) => setMessage(errorMessage(reason))
      );
      return;
    }
    if (entry.kind === 'other') {
      setMessage(`${entry.name}: this kind of file is not shown inline.`);
      return;
    }
    readArtifact(runId, entry.path).then(
      async blob => {
        if (entry.kind === 'image') {
          setShown({ kind: 'image', path: entry.path, url: URL.createObjectURL(blob) });
        } else {
          setShown({ kind: entry.kind as 'text' | 'json' | 'html', path: entry.path, text: await blob.text() });
        }
      },
      (reason: unknown) => setMessage(errorMessage(reason))
    );
  };

  const parts = folder ? folder.split('/') : [];
  return (
    <section className="mlops-nb-section mlops-nb-artifacts">
      <h3>Artifacts</h3>
      <div className="mlops-nb-artifact-path">
        <button className="mlops-nb-link" onClick={() => setFolder('')}>
          (root)
        </button>
        {parts.map((part, i) => (
          <React.Fragment key={i}>
            {' / '}
            <button className="mlops-nb-link" onClick={() => setFolder(parts.slice(0, i + 1).join('/'))}>
              {part}
            </button>
          </React.Fragment>
        ))}
      </div>
      {loading ? <div className="mlops-nb-muted">Loading…</div> : null}
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {message ? <div className="mlops-nb-error">{message}</div> : null}
      {value && value.entries.length === 0 ? <div className="mlops-nb-muted">No artifacts here.</div> : null}
      {value && value.entries.length ? (
        <table className="mlops-nb-table mlops-nb-artifact-list">
          <tbody>
            {value.entries.map(entry => (
              <tr key={entry.path} data-artifact={entry.path}>
                <td>
                  <button className="mlops-nb-link mlops-nb-artifact-entry" onClick={() => open(entry)}>
                    {entry.is_dir ? (
                      <folderIcon.react tag="span" className="mlops-nb-folder-icon" elementPosition="center" />
                    ) : null}
                    {entry.name}
                  </button>
                </td>
                <td className="mlops-nb-muted">{entry.kind}</td>
                <td className="mlops-nb-muted">{formatSize(entry.size)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {value?.truncated ? <div className="mlops-nb-muted">Only the first 1000 entries are listed.</div> : null}
      {shown ? <Viewer shown={shown} close={() => setShown(null)} /> : null}
    </section>
  );
}
