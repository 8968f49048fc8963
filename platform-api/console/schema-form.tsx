/**
 * Form fields generated from a check's parameter JSON Schema (as `GET …/runners/{id}/checks` answers
 * it: built-in checks' zod schemas converted, or a pack's own), and reading the values typed into
 * them back into parameters.
 *
 * The schema comes from a Runner, so it is read defensively and never executed: every keyword this
 * file does not understand turns the field into a JSON text area, and the API validates the
 * parameters again when the task is saved (its answer is the authority, shown as a problem).
 *
 * Fields left empty are not sent, so that the check's own defaults apply (they are shown as hints).
 */
import { lines } from './fields';

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  format?: string;
  additionalProperties?: unknown;
}

/** What the person typed, by property path (`auth.binding`): text, an enum's option index, or a checkbox. */
export type RawValues = Record<string, string | boolean>;

type Kind = 'object' | 'enum' | 'boolean' | 'integer' | 'number' | 'string' | 'lines' | 'json';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPrimitive = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** A schema as this file reads it; anything that is not an object schema reads as one without properties. */
export function asSchema(value: unknown): JsonSchema {
  return isRecord(value) ? value : { type: 'object' };
}

function typeOf(s: JsonSchema | undefined): string | undefined {
  if (!s) return undefined;
  // `["string", "null"]`: the field is the non-null type, left empty for null.
  return Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
}

function propertiesOf(s: JsonSchema): [string, JsonSchema][] {
  return isRecord(s.properties) ? Object.entries(s.properties).map(([name, sub]) => [name, asSchema(sub)]) : [];
}

function kindOf(s: JsonSchema): Kind {
  if (Array.isArray(s.enum) && s.enum.length > 0 && s.enum.every(isPrimitive)) return 'enum';
  const type = typeOf(s);
  if (type === 'boolean' || type === 'integer' || type === 'number' || type === 'string') return type;
  if (type === 'array') {
    const item = typeOf(s.items);
    if (item === 'string' || item === 'integer' || item === 'number') return 'lines';
  }
  if (type === 'object' && propertiesOf(s).length > 0) return 'object';
  return 'json';
}

const keyOf = (path: string[]) => path.join('.');

/** True when the check takes no parameters at all (the form then says so). */
export function hasNoParameters(schema: JsonSchema): boolean {
  // A free-form object (`additionalProperties: true` or a schema) still takes parameters: as JSON.
  const open = schema.additionalProperties === true || isRecord(schema.additionalProperties);
  return kindOf(schema) !== 'object' && typeOf(schema) === 'object' && !open;
}

/** The form's starting values: checkboxes and selects at the schema's defaults, everything else empty. */
export function initialValues(schema: JsonSchema, path: string[] = [], into: RawValues = {}): RawValues {
  for (const [name, sub] of propertiesOf(schema)) {
    const at = [...path, name];
    const kind = kindOf(sub);
    if (kind === 'object') initialValues(sub, at, into);
    else if (kind === 'boolean') into[keyOf(at)] = sub.default === true;
    else if (kind === 'enum') {
      const index = sub.enum!.findIndex((v) => v === sub.default);
      into[keyOf(at)] = index >= 0 ? String(index) : '';
    }
  }
  return into;
}

function parseNumber(text: string, integer: boolean, where: string, problems: string[]): number | undefined {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) problems.push(`${where}: "${text}" is not a number`);
  else if (integer && !Number.isInteger(n)) problems.push(`${where}: must be a whole number`);
  else return n;
  return undefined;
}

function collect(s: JsonSchema, path: string[], required: boolean, raw: RawValues, problems: string[]): unknown {
  const key = keyOf(path);
  const where = key || '(parameters)';
  const value = raw[key];
  const text = typeof value === 'string' ? value : '';
  switch (kindOf(s)) {
    case 'object': {
      const need = new Set(Array.isArray(s.required) ? s.required : []);
      const out: Record<string, unknown> = {};
      for (const [name, sub] of propertiesOf(s)) {
        const v = collect(sub, [...path, name], need.has(name), raw, problems);
        if (v !== undefined) out[name] = v;
      }
      // An optional group left empty is left out, so that its own required fields do not apply.
      return Object.keys(out).length > 0 || required || path.length === 0 ? out : undefined;
    }
    case 'boolean':
      if (typeof value !== 'boolean') return undefined;
      return required || value !== (s.default === true) ? value : undefined;
    case 'enum':
      return text === '' ? undefined : s.enum![Number(text)];
    case 'integer':
    case 'number':
      return text.trim() === '' ? undefined : parseNumber(text.trim(), kindOf(s) === 'integer', where, problems);
    case 'string':
      // Not trimmed: a value such as a header scheme (`Bearer `) keeps its space.
      return text === '' ? undefined : text;
    case 'lines': {
      const items = lines(text);
      if (items.length === 0) return undefined;
      const item = typeOf(s.items);
      if (item === 'string') return items;
      return items.map((l) => parseNumber(l, item === 'integer', where, problems));
    }
    case 'json':
      if (text.trim() === '') return undefined;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        problems.push(`${where}: is not valid JSON`);
        return undefined;
      }
  }
}

/** The parameters to send, and what could not be read (numbers, JSON) before anything is sent. */
export function buildParams(schema: JsonSchema, raw: RawValues): { params: Record<string, unknown>; problems: string[] } {
  const problems: string[] = [];
  const collected = collect(schema, [], true, raw, problems);
  return { params: isRecord(collected) ? collected : {}, problems };
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return value.length ? value.map(String).join(', ') : 'none';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function hintOf(s: JsonSchema, kind: Kind): string {
  const parts: string[] = [];
  if (typeof s.title === 'string') parts.push(s.title);
  if (typeof s.description === 'string') parts.push(s.description);
  if (kind === 'lines') parts.push('One per line.');
  if (kind === 'json') parts.push('A JSON value.');
  if (s.format === 'uri') parts.push('A URL.');
  const lower =
    s.minimum !== undefined ? `at least ${s.minimum}` : s.exclusiveMinimum !== undefined ? `more than ${s.exclusiveMinimum}` : undefined;
  const upper =
    s.maximum !== undefined ? `at most ${s.maximum}` : s.exclusiveMaximum !== undefined ? `less than ${s.exclusiveMaximum}` : undefined;
  if (s.minimum !== undefined && s.maximum !== undefined) parts.push(`From ${s.minimum} to ${s.maximum}.`);
  else if (lower || upper) {
    const range = [lower, upper].filter(Boolean).join(', ');
    parts.push(`${range.charAt(0).toUpperCase()}${range.slice(1)}.`);
  }
  if (s.default !== undefined && kind !== 'boolean' && kind !== 'enum') parts.push(`Default: ${describe(s.default)}.`);
  return parts.join(' ');
}

function numericBounds(s: JsonSchema, integer: boolean): { min?: number; max?: number } {
  const step = integer ? 1 : 0;
  const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + step : undefined);
  const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - step : undefined);
  return { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
}

interface FieldsProps {
  schema: JsonSchema;
  values: RawValues;
  onChange: (values: RawValues) => void;
  /** Prefix of the inputs' ids, unique on the page. */
  idPrefix: string;
  disabled?: boolean;
}

/**
 * The fields of an object schema: one per property, labelled with the property's name (its title and
 * description as a hint); a nested object is a fieldset. Required fields are marked and, when every
 * group above them is required too, required by the browser as well.
 */
export function SchemaFields(props: FieldsProps) {
  if (kindOf(props.schema) !== 'object') {
    return hasNoParameters(props.schema) ? (
      <p class="muted">This check takes no parameters.</p>
    ) : (
      <Field {...props} name="parameters" path={[]} sub={props.schema} required={false} enforce={false} />
    );
  }
  return <ObjectFields {...props} path={[]} enforce />;
}

function ObjectFields(props: FieldsProps & { path: string[]; enforce: boolean }) {
  const need = new Set(Array.isArray(props.schema.required) ? props.schema.required : []);
  return (
    <>
      {propertiesOf(props.schema).map(([name, sub]) => (
        <Field key={name} {...props} name={name} sub={sub} path={[...props.path, name]} required={need.has(name)} enforce={props.enforce} />
      ))}
    </>
  );
}

function Field(props: FieldsProps & { name: string; sub: JsonSchema; path: string[]; required: boolean; enforce: boolean }) {
  const { name, sub, path, values, onChange, idPrefix, disabled } = props;
  const kind = kindOf(sub);
  const key = keyOf(path);
  const id = `${idPrefix}-${path.join('-').replace(/[^A-Za-z0-9_-]/g, '_') || 'value'}`;
  const hint = hintOf(sub, kind);
  const hintId = hint ? `${id}-hint` : undefined;
  const set = (value: string | boolean) => onChange({ ...values, [key]: value });
  const text = typeof values[key] === 'string' ? values[key] : '';
  // The browser enforces a required field only when the groups above it are required too.
  const browserRequired = props.required && props.enforce;
  const mark = props.required ? (
    <span class="required-mark" aria-hidden="true">
      {' '}
      *
    </span>
  ) : null;
  const hintText = hint ? (
    <span class="hint" id={hintId}>
      {hint}
    </span>
  ) : null;

  if (kind === 'object') {
    return (
      <fieldset class="schema-group">
        <legend>
          {name}
          {mark}
        </legend>
        {hintText}
        <ObjectFields {...props} schema={sub} path={path} enforce={browserRequired} />
      </fieldset>
    );
  }
  if (kind === 'boolean') {
    return (
      <div class="field">
        <span class="label-line">
          <label class="inline">
            <input
              type="checkbox"
              checked={values[key] === true}
              disabled={disabled}
              aria-describedby={hintId}
              onChange={(e) => set((e.target as HTMLInputElement).checked)}
            />
            {name}
          </label>
          {mark}
        </span>
        {hintText}
      </div>
    );
  }
  let control;
  if (kind === 'enum') {
    control = (
      <select
        id={id}
        value={text}
        required={browserRequired}
        disabled={disabled}
        aria-describedby={hintId}
        onChange={(e) => set(e.currentTarget.value)}
      >
        {sub.default === undefined ? <option value="">{props.required ? 'Choose…' : '(none)'}</option> : null}
        {sub.enum!.map((v, i) => (
          <option key={i} value={String(i)}>
            {describe(v)}
            {v === sub.default ? ' (default)' : ''}
          </option>
        ))}
      </select>
    );
  } else if (kind === 'integer' || kind === 'number') {
    control = (
      <input
        id={id}
        type="number"
        inputMode={kind === 'integer' ? 'numeric' : 'decimal'}
        step={kind === 'integer' ? 1 : 'any'}
        {...numericBounds(sub, kind === 'integer')}
        value={text}
        placeholder={sub.default !== undefined ? describe(sub.default) : undefined}
        required={browserRequired}
        disabled={disabled}
        aria-describedby={hintId}
        onInput={(e) => set(e.currentTarget.value)}
      />
    );
  } else if (kind === 'string') {
    control = (
      <input
        id={id}
        type="text"
        inputMode={sub.format === 'uri' ? 'url' : undefined}
        spellcheck={false}
        autoComplete="off"
        maxLength={typeof sub.maxLength === 'number' ? sub.maxLength : undefined}
        value={text}
        placeholder={typeof sub.default === 'string' ? sub.default : undefined}
        required={browserRequired}
        disabled={disabled}
        aria-describedby={hintId}
        onInput={(e) => set(e.currentTarget.value)}
      />
    );
  } else {
    control = (
      <textarea
        id={id}
        rows={kind === 'lines' ? 3 : 4}
        spellcheck={false}
        value={text}
        placeholder={kind === 'lines' && Array.isArray(sub.default) ? sub.default.map(String).join('\n') : undefined}
        required={browserRequired}
        disabled={disabled}
        aria-describedby={hintId}
        onInput={(e) => set(e.currentTarget.value)}
      />
    );
  }
  return (
    <div class="field">
      {/* The mark stays outside the label, so that the field's name is the property's name alone. */}
      <span class="label-line">
        <label for={id}>{name}</label>
        {mark}
      </span>
      {control}
      {hintText}
    </div>
  );
}
