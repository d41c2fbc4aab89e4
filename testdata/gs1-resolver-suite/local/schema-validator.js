// Local stand-in for the Ajv 8 browser bundle (window.ajv7) that the suite
// loads from a CDN. It implements the JSON Schema draft-07 keywords that the
// two schemas the suite uses (gs1-linkset-schema.json and
// description-file-schema.json) contain: type, enum, pattern, properties,
// patternProperties, additionalProperties, required and items. Like Ajv with
// {strict: false} and no format plug-in, it does not check "format".
// Other words are ignored, as Ajv with {strict: false} ignores unknown
// keywords; a draft-07 validation keyword this file does not implement
// throws, so a schema update that needs one cannot pass unchecked.
(function () {
  const unsupported = new Set(['multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength',
    'additionalItems', 'maxItems', 'minItems', 'uniqueItems', 'contains', 'maxProperties', 'minProperties', 'dependencies',
    'propertyNames', 'const', 'if', 'then', 'else', 'allOf', 'anyOf', 'oneOf', 'not', '$ref']);

  function typeOf(v) {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'array';
    if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
    return typeof v;
  }

  function check(schema, data, path, errors) {
    for (const k of Object.keys(schema)) {
      if (unsupported.has(k)) throw new Error('schema keyword not supported by the local validator: ' + k);
    }
    const err = (msg) => errors.push({ instancePath: path, message: msg });
    if (schema.type !== undefined) {
      const t = typeOf(data);
      const want = [].concat(schema.type);
      if (!want.includes(t) && !(t === 'integer' && want.includes('number'))) { err('must be ' + want.join(',')); return; }
    }
    if (schema.enum !== undefined && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(data))) err('must be equal to one of the allowed values');
    if (schema.pattern !== undefined && typeof data === 'string' && !new RegExp(schema.pattern, 'u').test(data)) err('must match pattern "' + schema.pattern + '"');
    if (typeOf(data) === 'object') {
      const props = schema.properties || {};
      const pats = Object.keys(schema.patternProperties || {});
      for (const r of schema.required || []) if (!(r in data)) err("must have required property '" + r + "'");
      for (const key of Object.keys(data)) {
        let known = false;
        if (key in props) { known = true; check(props[key], data[key], path + '/' + key, errors); }
        for (const p of pats) {
          if (new RegExp(p, 'u').test(key)) { known = true; check(schema.patternProperties[p], data[key], path + '/' + key, errors); }
        }
        if (!known && schema.additionalProperties === false) err('must NOT have additional properties (' + key + ')');
        else if (!known && typeof schema.additionalProperties === 'object') check(schema.additionalProperties, data[key], path + '/' + key, errors);
      }
    }
    if (typeOf(data) === 'array' && schema.items !== undefined) {
      data.forEach((v, i) => check(schema.items, v, path + '/' + i, errors));
    }
  }

  class LocalAjv {
    constructor(opts) { this.opts = opts || {}; }
    compile(schema) {
      const validate = (data) => {
        const errors = [];
        check(schema, data, '', errors);
        validate.errors = errors.length ? errors : null;
        return errors.length === 0;
      };
      validate({}); // throws now, as Ajv's compile does, on a keyword it cannot check
      return validate;
    }
  }
  window.ajv7 = LocalAjv;
})();
