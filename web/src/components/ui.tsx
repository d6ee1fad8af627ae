// Small building blocks: status badges, form fields with their error, dialogs, notes.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api';

export function Badge({ status, title }: { status: string; title?: string }): JSX.Element {
  return <span class={`badge badge-${status.replace(/[^a-z]/gi, '')}`} title={title}>{status}</span>;
}

let fieldIds = 0;

export interface FieldProps {
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (id: string, describedBy: string | undefined, invalid: boolean) => ComponentChildren;
}

/** A labelled control with its hint and its field-level error (announced to screen readers). */
export function Field({ label, error, hint, children }: FieldProps): JSX.Element {
  const [id] = useState(() => `f${++fieldIds}`);
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${error ? ' field-invalid' : ''}`}>
      <label for={id}>{label}</label>
      {children(id, describedBy, !!error)}
      {hint && <small id={`${id}-hint`} class="hint">{hint}</small>}
      {error && <small id={`${id}-err`} class="field-error" role="alert" data-field-error>{error}</small>}
    </div>
  );
}

export function TextInput(p: { label: string; name: string; value: string; onValue: (v: string) => void; error?: string | undefined; hint?: string; type?: 'text' | 'password' | 'email' | 'search'; autoComplete?: string; placeholder?: string; inputMode?: 'numeric' | 'text' | 'decimal' }): JSX.Element {
  return (
    <Field label={p.label} error={p.error} hint={p.hint}>
      {(id, d, invalid) => (
        <input id={id} name={p.name} type={(p.type ?? 'text') as 'text'} value={p.value} autoComplete={p.autoComplete} placeholder={p.placeholder} inputMode={p.inputMode}
          aria-describedby={d} aria-invalid={invalid} onInput={(e) => p.onValue((e.currentTarget as HTMLInputElement).value)} />
      )}
    </Field>
  );
}

export function ErrorNote({ error, prefix }: { error: ApiError | Error | null | undefined; prefix?: string }): JSX.Element | null {
  if (!error) return null;
  return <p class="note note-error" role="alert">{prefix ? `${prefix}: ` : ''}{error.message}</p>;
}

export function Empty({ children }: { children: ComponentChildren }): JSX.Element {
  return <p class="empty">{children}</p>;
}

/** A modal dialog (native <dialog>: focus stays inside, Esc closes). */
export function Dialog({ open, title, onClose, children, wide }: { open: boolean; title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }): JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  const [id] = useState(() => `d${++fieldIds}`);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class={`dialog${wide ? ' dialog-wide' : ''}`} aria-labelledby={`${id}-title`} onClose={onClose} onCancel={(e) => { e.preventDefault(); onClose(); }}>
      {open && (
        <div class="dialog-body">
          <header class="dialog-head">
            <h2 id={`${id}-title`}>{title}</h2>
            <button type="button" class="btn btn-icon" aria-label="Close" onClick={onClose}>✕</button>
          </header>
          {children}
        </div>
      )}
    </dialog>
  );
}

/** ask("Delete …?") resolves true when the operator confirms. */
export function useConfirm(): [JSX.Element, (message: string, action?: string) => Promise<boolean>] {
  const [q, setQ] = useState<{ message: string; action: string; resolve: (v: boolean) => void } | null>(null);
  const answer = (v: boolean): void => {
    q?.resolve(v);
    setQ(null);
  };
  const el = (
    <Dialog open={q !== null} title="Please confirm" onClose={() => answer(false)}>
      <p>{q?.message}</p>
      <div class="actions">
        <button type="button" class="btn" onClick={() => answer(false)}>Cancel</button>
        <button type="button" class="btn btn-danger" onClick={() => answer(true)}>{q?.action ?? 'Confirm'}</button>
      </div>
    </Dialog>
  );
  return [el, (message, action = 'Confirm') => new Promise<boolean>((resolve) => setQ({ message, action, resolve }))];
}

/** Field errors of a 400/422 answer keyed by the form's field names (nested paths go to their first part). */
export function fieldErrors(e: ApiError, known: string[]): { fields: Record<string, string>; other: string[] } {
  const fields: Record<string, string> = {};
  const other: string[] = [];
  for (const f of e.errors) {
    const top = f.field.split(/[.[]/)[0] ?? '';
    const key = known.includes(f.field) ? f.field : known.includes(top) ? top : '';
    if (key) fields[key] = fields[key] ? `${fields[key]}; ${f.message}` : f.message;
    else other.push(f.field ? `${f.field}: ${f.message}` : f.message);
  }
  if (e.errors.length === 0) other.push(e.message);
  return { fields, other };
}

/** Copies text; a field to select by hand when the clipboard is not allowed (plain HTTP off localhost). */
export function CopyField({ label, value }: { label: string; value: string }): JSX.Element {
  const [copied, setCopied] = useState<'' | 'ok' | 'manual'>('');
  const ref = useRef<HTMLInputElement>(null);
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('ok');
    } catch {
      ref.current?.select();
      setCopied(document.execCommand?.('copy') ? 'ok' : 'manual');
    }
    setTimeout(() => setCopied(''), 2000);
  };
  return (
    <Field label={label}>
      {(id) => (
        <div class="copy">
          <input id={id} ref={ref} readOnly value={value} class="mono" onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
          <button type="button" class="btn btn-small" onClick={() => void copy()} aria-label={`Copy ${label}`}>{copied === 'ok' ? 'Copied' : copied === 'manual' ? 'Press Ctrl+C' : 'Copy'}</button>
        </div>
      )}
    </Field>
  );
}
