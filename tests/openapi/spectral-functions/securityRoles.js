// securityRoles.js - a Spectral function: each security requirement names a
// scheme of components.securitySchemes, and lists only scopes or roles that
// exist. OpenAPI 3.1 §4.8.30 (Security Requirement Object): for oauth2 and
// openIdConnect the list holds scope names (of the scheme's flows); for other
// scheme types it MAY hold role names. Here the roles of a non-OAuth scheme
// must be values of the enum of the schema functionOptions.rolesSchema names
// (a components.schemas key), so a mistyped scope fails the lint.
//
// Replaces spectral:oas's oas3-operation-security-defined, which checks the
// names the same way but treats every listed role as an OAuth scope.
export default function securityRoles(input, options, context) {
  if (input === null || typeof input !== 'object') return [];
  const doc = context.document.data || {};
  const schemes = doc.components?.securitySchemes || {};
  const roles = doc.components?.schemas?.[options.rolesSchema]?.enum || [];
  const out = [];
  for (const [name, list] of Object.entries(input)) {
    const scheme = schemes[name];
    if (!scheme) {
      out.push({ message: `"${name}" is not a scheme of components.securitySchemes.`, path: [...context.path, name] });
      continue;
    }
    (Array.isArray(list) ? list : []).forEach((role, i) => {
      let known;
      if (scheme.type === 'oauth2') {
        known = Object.values(scheme.flows || {}).some((f) => f && f.scopes && role in f.scopes);
      } else if (scheme.type === 'openIdConnect') {
        known = true; // scopes live in the provider's discovery document
      } else {
        known = roles.includes(role);
      }
      if (!known) {
        out.push({
          message: `"${role}" is not a scope of ${name} (components.schemas.${options.rolesSchema}).`,
          path: [...context.path, name, i],
        });
      }
    });
  }
  return out;
}
