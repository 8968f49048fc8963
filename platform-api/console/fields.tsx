/**
 * The console's hand-written form parts (the schema-generated ones are in schema-form.tsx): a
 * labelled input, select or text area with an optional hint (one `field` div each, the hint named by
 * `aria-describedby` as `<id>-hint`), the problems found before anything is sent, and a form's
 * footer (those problems, the API's problem and the submit button, which says when it is busy).
 */
import type { ComponentChildren, InputHTMLAttributes, Ref, SelectHTMLAttributes, TextareaHTMLAttributes } from 'preact';
import type { ProblemError } from './api';
import { ProblemBanner } from './ui';

/** Non-empty trimmed lines of a text area. */
export function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Problems found in the browser before anything was sent (the API's own come as a ProblemBanner). */
export function LocalProblems({ problems }: { problems: string[] }) {
  if (problems.length === 0) return null;
  return (
    <div class="problem" role="alert">
      <strong>Check the form</strong>
      <ul>
        {problems.map((p) => (
          <li key={p}>{p}</li>
        ))}
      </ul>
    </div>
  );
}

interface FieldProps {
  /** The control's id, which its label points at; the hint's id is `<id>-hint`. */
  id: string;
  label: ComponentChildren;
  hint?: ComponentChildren;
  /** Takes the rest of a form row. */
  wide?: boolean;
}

/** The `field` div around one control: its label, the control, its hint. */
function Field({ id, label, hint, wide, children }: FieldProps & { children: ComponentChildren }) {
  return (
    <div class={wide ? 'field wide' : 'field'}>
      <label for={id}>{label}</label>
      {children}
      {hint ? (
        <span class="hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
    </div>
  );
}

/** The hint's id when there is a hint, else what the control was given. */
const describedBy = (id: string, hint: ComponentChildren, given: unknown) => (hint ? `${id}-hint` : (given as string | undefined));

/** A control's own attributes (each kind of input its own, hence distributed over the union) but those the field sets. */
type Attributes<A> = A extends unknown ? Omit<A, 'id' | 'onInput' | 'onChange' | 'ref'> : never;
type Control<A> = FieldProps & Attributes<A> & { onValue: (value: string) => void };

/** A labelled input; `onValue` gets its text as it is typed. */
export function InputField({
  id,
  label,
  hint,
  wide,
  onValue,
  inputRef,
  ...input
}: Control<InputHTMLAttributes<HTMLInputElement>> & { inputRef?: Ref<HTMLInputElement> }) {
  return (
    <Field id={id} label={label} hint={hint} wide={wide}>
      <input
        {...input}
        id={id}
        ref={inputRef}
        aria-describedby={describedBy(id, hint, input['aria-describedby'])}
        onInput={(e) => onValue(e.currentTarget.value)}
      />
    </Field>
  );
}

/** A labelled text area; `onValue` gets its text as it is typed. */
export function TextareaField({
  id,
  label,
  hint,
  wide,
  onValue,
  inputRef,
  ...textarea
}: Control<TextareaHTMLAttributes<HTMLTextAreaElement>> & { inputRef?: Ref<HTMLTextAreaElement> }) {
  return (
    <Field id={id} label={label} hint={hint} wide={wide}>
      <textarea
        {...textarea}
        id={id}
        ref={inputRef}
        aria-describedby={describedBy(id, hint, textarea['aria-describedby'])}
        onInput={(e) => onValue(e.currentTarget.value)}
      />
    </Field>
  );
}

/** A labelled select of `children` (its options); `onValue` gets the chosen value, one of `value`'s type. */
export function SelectField<T extends string>({
  id,
  label,
  hint,
  wide,
  onValue,
  children,
  ...select
}: FieldProps &
  Attributes<SelectHTMLAttributes<HTMLSelectElement>> & { value: T; onValue: (value: NoInfer<T>) => void; children: ComponentChildren }) {
  return (
    <Field id={id} label={label} hint={hint} wide={wide}>
      <select
        {...select}
        id={id}
        aria-describedby={describedBy(id, hint, select['aria-describedby'])}
        onChange={(e) => onValue(e.currentTarget.value as T)}
      >
        {children}
      </select>
    </Field>
  );
}

/** The options of a select: values shown as they are, or `[value, text]` pairs. */
export function Options({ values }: { values: readonly (string | readonly [string, string])[] }) {
  return (
    <>
      {values.map((v) => {
        const [value, text] = typeof v === 'string' ? [v, v] : v;
        return (
          <option key={value} value={value}>
            {text}
          </option>
        );
      })}
    </>
  );
}

/** A submit button that is disabled and says `busyLabel` while the form's action runs. */
export function SubmitButton({
  busy,
  label,
  busyLabel = label,
  disabled = false,
}: {
  busy: boolean;
  label: string;
  busyLabel?: string;
  disabled?: boolean;
}) {
  return (
    <button type="submit" disabled={busy || disabled} aria-busy={busy}>
      {busy ? busyLabel : label}
    </button>
  );
}

/**
 * The end of a form: what the browser found wrong, what the API answered, and the actions: `before`,
 * the submit button, then `children`.
 */
export function FormFooter({
  problems = [],
  error,
  before,
  children,
  ...submit
}: {
  problems?: string[];
  error?: ProblemError;
  before?: ComponentChildren;
  children?: ComponentChildren;
} & Parameters<typeof SubmitButton>[0]) {
  return (
    <>
      <LocalProblems problems={problems} />
      <ProblemBanner error={error} />
      <div class="form-actions">
        {before}
        <SubmitButton {...submit} />
        {children}
      </div>
    </>
  );
}
