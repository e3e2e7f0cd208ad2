//! SCIM 2.0 PATCH (RFC 7644 §3.5.2) applied to a resource's JSON, in the
//! forms identity providers actually send: Entra ID's capitalised ops
//! (`"Replace"`, `"Add"`, `"Remove"`), its `emails[type eq "work"].value`
//! paths that add the element when it is missing, path-less operations
//! whose value is an object of attributes (Okta's `{"active": false}`,
//! keys that are paths themselves like `name.givenName`), and removal of
//! group members by a value list (`"path": "members", "value": [{…}]`).
//!
//! Pure: the desk reads the stored resource, applies the operations here,
//! and validates the result as it validates a PUT.

use serde_json::{Map, Value};

use super::scim::{ScimError, ScimErrorKind};
use super::scim_filter::{get_ci, is_core_schema, AttrPath, Filter, PatchPath};

/// The PatchOp message's schema.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Most operations one request may carry (Entra sends a few; a big group
/// sync sends one operation with many members, not many operations).
const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Reads a PatchOp request body.
pub fn parse_patch(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
    let syntax = |m: String| ScimError::new(ScimErrorKind::InvalidSyntax, m);
    if !body.is_object() {
        return Err(syntax("a PATCH body is a JSON object".into()));
    }
    if let Some(schemas) = get_ci(body, "schemas") {
        let named = schemas.as_array().is_some_and(|s| {
            s.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_SCHEMA))
            })
        });
        if !named {
            return Err(syntax(format!("`schemas` must name {PATCH_SCHEMA}")));
        }
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("`Operations` must be a list of operations".into()))?;
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(syntax(format!(
            "`Operations` must hold 1 to {MAX_OPERATIONS} operations"
        )));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let kind = match get_ci(op, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                Some("add") => OpKind::Add,
                Some("remove") => OpKind::Remove,
                Some("replace") => OpKind::Replace,
                _ => {
                    return Err(syntax(format!(
                        "Operations[{i}].op must be add, remove or replace"
                    )))
                }
            };
            let path = match get_ci(op, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(PatchPath::parse(p).map_err(|e| {
                    ScimError::new(ScimErrorKind::InvalidPath, format!("Operations[{i}].path: {e}"))
                })?),
                Some(_) => return Err(syntax(format!("Operations[{i}].path must be a string"))),
            };
            let value = get_ci(op, "value").cloned();
            match (kind, &path, &value) {
                (OpKind::Remove, None, _) => Err(ScimError::new(
                    ScimErrorKind::NoTarget,
                    format!("Operations[{i}]: remove needs a path"),
                )),
                (OpKind::Add | OpKind::Replace, _, None) => Err(ScimError::new(
                    ScimErrorKind::InvalidValue,
                    format!("Operations[{i}]: {kind:?} needs a value").to_lowercase(),
                )),
                (OpKind::Add | OpKind::Replace, None, Some(v)) if !v.is_object() => Err(ScimError::new(
                    ScimErrorKind::InvalidValue,
                    format!("Operations[{i}]: without a path the value must be an object of attributes"),
                )),
                _ => Ok(PatchOp { kind, path, value }),
            }
        })
        .collect()
}

/// Applies `ops` in order to `resource` (a JSON object). Attributes in
/// `read_only` (e.g. `id`, `meta`) may not be targeted.
pub fn apply(resource: &mut Value, ops: &[PatchOp], read_only: &[&str]) -> Result<(), ScimError> {
    for op in ops {
        match &op.path {
            Some(path) => apply_one(resource, op.kind, path, op.value.as_ref(), read_only)?,
            None => {
                let Some(Value::Object(attrs)) = &op.value else {
                    return Err(ScimError::new(
                        ScimErrorKind::InvalidValue,
                        "the value must be an object",
                    ));
                };
                for (key, value) in attrs {
                    // Okta's rename repeats the group's `id` beside the
                    // new displayName: read-only attributes in a
                    // path-less value are passed over, not refused.
                    if read_only.iter().any(|r| key.eq_ignore_ascii_case(r)) {
                        continue;
                    }
                    // An extension's URN with an object: its attributes.
                    let targets: Vec<(PatchPath, &Value)> = match value {
                        Value::Object(inner)
                            if key.len() > 4
                                && key[..4].eq_ignore_ascii_case("urn:")
                                && !is_core_schema(key) =>
                        {
                            inner
                                .iter()
                                .map(|(k, v)| {
                                    Ok((
                                        PatchPath {
                                            path: AttrPath {
                                                schema: Some(key.clone()),
                                                ..AttrPath::parse(k).map_err(invalid_path)?
                                            },
                                            filter: None,
                                            sub_after_filter: None,
                                        },
                                        v,
                                    ))
                                })
                                .collect::<Result<_, ScimError>>()?
                        }
                        _ => vec![(PatchPath::parse(key).map_err(invalid_path)?, value)],
                    };
                    for (path, value) in targets {
                        apply_one(resource, op.kind, &path, Some(value), read_only)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn invalid_path(e: super::scim_filter::FilterError) -> ScimError {
    ScimError::new(ScimErrorKind::InvalidPath, e.to_string())
}

/// The key under which `name` is stored in `object`: the existing key if
/// one matches without case, else `name` as given.
fn key_in(object: &Map<String, Value>, name: &str) -> String {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn object_at<'a>(parent: &'a mut Map<String, Value>, name: &str) -> &'a mut Map<String, Value> {
    let key = key_in(parent, name);
    let slot = parent
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

fn apply_one(
    resource: &mut Value,
    kind: OpKind,
    target: &PatchPath,
    value: Option<&Value>,
    read_only: &[&str],
) -> Result<(), ScimError> {
    let path = &target.path;
    if read_only
        .iter()
        .any(|r| path.is(r, None) || path.attr.eq_ignore_ascii_case(r))
    {
        return Err(ScimError::new(
            ScimErrorKind::Mutability,
            format!("`{}` cannot be changed", path.attr),
        ));
    }
    let Value::Object(root) = resource else {
        return Err(ScimError::new(
            ScimErrorKind::InvalidSyntax,
            "the resource is not an object",
        ));
    };
    let container = match &path.schema {
        Some(schema) if !is_core_schema(schema) => object_at(root, schema),
        _ => root,
    };
    let attr_key = key_in(container, &path.attr);
    match (&target.filter, &path.sub) {
        (None, None) => {
            match kind {
                OpKind::Remove => match (container.get_mut(&attr_key), value) {
                    // Entra removes members as `"path": "members", "value": [{"value": id}]`.
                    (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                        items.retain(|item| !gone.iter().any(|g| same_element(item, g)));
                    }
                    _ => {
                        container.remove(&attr_key);
                    }
                },
                OpKind::Replace => {
                    container.insert(attr_key, value.cloned().unwrap_or(Value::Null));
                }
                OpKind::Add => {
                    let value = value.cloned().unwrap_or(Value::Null);
                    match (container.get_mut(&attr_key), value) {
                        (Some(Value::Array(items)), Value::Array(more)) => {
                            for v in more {
                                if !items.iter().any(|i| same_element(i, &v)) {
                                    items.push(v);
                                }
                            }
                        }
                        (Some(Value::Array(items)), v) => {
                            if !items.iter().any(|i| same_element(i, &v)) {
                                items.push(v);
                            }
                        }
                        (Some(Value::Object(existing)), Value::Object(more)) => {
                            existing.extend(more)
                        }
                        (_, v) => {
                            container.insert(attr_key, v);
                        }
                    }
                }
            }
            Ok(())
        }
        (None, Some(sub)) => {
            if matches!(container.get(&attr_key), Some(Value::Array(_))) {
                return Err(ScimError::new(
                    ScimErrorKind::InvalidPath,
                    format!("`{}` is multi-valued: name the element with a filter, e.g. {}[type eq \"work\"].{sub}", path.attr, path.attr),
                ));
            }
            let object = object_at(container, &path.attr);
            let sub_key = key_in(object, sub);
            match kind {
                OpKind::Remove => {
                    object.remove(&sub_key);
                }
                OpKind::Add | OpKind::Replace => {
                    object.insert(sub_key, value.cloned().unwrap_or(Value::Null));
                }
            }
            Ok(())
        }
        (Some(filter), _) => apply_filtered(
            container,
            &attr_key,
            kind,
            filter,
            target.sub_after_filter.as_deref(),
            value,
        ),
    }
}

fn apply_filtered(
    container: &mut Map<String, Value>,
    attr_key: &str,
    kind: OpKind,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let slot = container
        .entry(attr_key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        // A single value where a list belongs: keep it as the first element.
        let single = std::mem::take(slot);
        *slot = Value::Array(if single.is_null() {
            Vec::new()
        } else {
            vec![single]
        });
    }
    let Value::Array(items) = slot else {
        unreachable!("just made a list");
    };
    let hits: Vec<usize> = (0..items.len())
        .filter(|i| filter.matches(&items[*i]))
        .collect();
    match kind {
        OpKind::Remove => {
            if hits.is_empty() {
                return Ok(());
            }
            match sub {
                None => {
                    let mut at = 0;
                    items.retain(|_| {
                        let keep = !hits.contains(&at);
                        at += 1;
                        keep
                    });
                }
                Some(sub) => {
                    for i in hits {
                        if let Value::Object(e) = &mut items[i] {
                            let k = key_in(e, sub);
                            e.remove(&k);
                        }
                    }
                }
            }
        }
        OpKind::Add | OpKind::Replace => {
            let value = value.cloned().unwrap_or(Value::Null);
            if hits.is_empty() {
                // Entra adds `emails[type eq "work"].value` this way when
                // the user has no work email yet: the element the filter
                // describes, with the value.
                let mut element = seed_from(filter).ok_or_else(|| {
                    ScimError::new(
                        ScimErrorKind::NoTarget,
                        "no element matches the path's filter, and it does not say how to make one (use `attr eq \"…\"`)",
                    )
                })?;
                match (sub, value) {
                    (Some(sub), v) => {
                        element.insert(sub.to_string(), v);
                    }
                    (None, Value::Object(attrs)) => element.extend(attrs),
                    (None, _) => {
                        return Err(ScimError::new(
                            ScimErrorKind::InvalidValue,
                            "the value of a filtered path without a sub-attribute is an object",
                        ))
                    }
                }
                items.push(Value::Object(element));
                return Ok(());
            }
            for i in hits {
                match (sub, &value, &mut items[i]) {
                    (Some(sub), v, Value::Object(e)) => {
                        let k = key_in(e, sub);
                        e.insert(k, v.clone());
                    }
                    (None, Value::Object(attrs), Value::Object(e)) => {
                        if kind == OpKind::Replace {
                            // Replace the element, keeping what the filter named.
                            let mut fresh = seed_from(filter).unwrap_or_default();
                            fresh.extend(attrs.clone());
                            *e = fresh;
                        } else {
                            e.extend(attrs.clone());
                        }
                    }
                    (None, v, slot) => *slot = v.clone(),
                    (Some(_), _, _) => {}
                }
            }
        }
    }
    Ok(())
}

/// The attributes an element must have to match `filter`, when the filter
/// is equalities joined by `and` (`type eq "work"`).
fn seed_from(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare {
            path,
            op: super::scim_filter::CompareOp::Eq,
            value,
        } if path.sub.is_none() && path.schema.is_none() => {
            let mut m = Map::new();
            m.insert(path.attr.clone(), value.clone());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = seed_from(a)?;
            m.extend(seed_from(b)?);
            Some(m)
        }
        _ => None,
    }
}

/// Whether two elements of a multi-valued attribute are the same: equal,
/// or complex values with the same `value`.
fn same_element(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patched(mut resource: Value, body: Value) -> Result<Value, ScimError> {
        let ops = parse_patch(&body)?;
        apply(&mut resource, &ops, &["id", "meta"])?;
        Ok(resource)
    }

    fn body(ops: Value) -> Value {
        json!({ "schemas": [PATCH_SCHEMA], "Operations": ops })
    }

    #[test]
    fn entra_capitalised_replace_with_string_false_and_work_email_path() {
        let user = json!({ "userName": "a@x.com", "active": true, "emails": [{ "type": "work", "value": "a@x.com", "primary": true }] });
        let out = patched(
            user,
            body(json!([
                { "op": "Replace", "path": "active", "value": "False" },
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b@x.com" },
                { "op": "Add", "path": "name.givenName", "value": "Bea" }
            ])),
        )
        .expect("patched");
        assert_eq!(out["active"], "False");
        assert_eq!(
            out["emails"],
            json!([{ "type": "work", "value": "b@x.com", "primary": true }])
        );
        assert_eq!(out["name"]["givenName"], "Bea");
    }

    #[test]
    fn entra_add_to_a_missing_work_email_creates_the_element() {
        let out = patched(
            json!({ "userName": "a@x.com" }),
            body(json!([{ "op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@x.com" }])),
        )
        .expect("patched");
        assert_eq!(
            out["emails"],
            json!([{ "type": "work", "value": "a@x.com" }])
        );
    }

    #[test]
    fn okta_pathless_replace_with_an_object_and_keys_that_are_paths() {
        let out = patched(
            json!({ "userName": "a@x.com", "active": true, "name": { "givenName": "A", "familyName": "B" } }),
            body(json!([{ "op": "replace", "value": { "active": false, "name.familyName": "C", "DisplayName": "A C" } }])),
        )
        .expect("patched");
        assert_eq!(out["active"], false);
        assert_eq!(out["name"], json!({ "givenName": "A", "familyName": "C" }));
        assert_eq!(out["DisplayName"], "A C");
    }

    #[test]
    fn okta_rename_repeats_the_id_which_is_passed_over() {
        let out = patched(
            json!({ "id": "7", "displayName": "Old" }),
            body(json!([{ "op": "replace", "value": { "id": "7", "displayName": "New" } }])),
        )
        .expect("patched");
        assert_eq!(out, json!({ "id": "7", "displayName": "New" }));
    }

    #[test]
    fn attribute_names_match_without_case_so_nothing_is_doubled() {
        let out = patched(
            json!({ "displayName": "Old" }),
            body(json!([{ "op": "replace", "path": "DISPLAYNAME", "value": "New" }])),
        )
        .expect("patched");
        assert_eq!(out, json!({ "displayName": "New" }));
    }

    #[test]
    fn group_members_are_added_and_removed_in_both_providers_forms() {
        let group =
            json!({ "displayName": "Ops", "members": [{ "value": "1" }, { "value": "2" }] });
        let out = patched(
            group,
            body(json!([
                { "op": "Add", "path": "members", "value": [{ "value": "3" }, { "value": "1" }] },
                { "op": "Remove", "path": "members", "value": [{ "value": "2" }] },
                { "op": "remove", "path": "members[value eq \"3\"]" }
            ])),
        )
        .expect("patched");
        assert_eq!(out["members"], json!([{ "value": "1" }]));
        let out = patched(
            out,
            body(json!([{ "op": "replace", "path": "members", "value": [{ "value": "9" }] }])),
        )
        .expect("patched");
        assert_eq!(out["members"], json!([{ "value": "9" }]));
        let out =
            patched(out, body(json!([{ "op": "remove", "path": "members" }]))).expect("patched");
        assert_eq!(out.get("members"), None);
    }

    #[test]
    fn enterprise_extension_by_urn_path_and_by_pathless_object() {
        const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let out = patched(
            json!({ "userName": "a" }),
            body(json!([
                { "op": "Add", "path": format!("{ENT}:department"), "value": "Ops" },
                { "op": "replace", "value": { ENT: { "costCenter": "42" } } },
                { "op": "add", "path": ENT, "value": { "division": "North" } }
            ])),
        )
        .expect("patched");
        assert_eq!(
            out[ENT],
            json!({ "department": "Ops", "costCenter": "42", "division": "North" })
        );
        let out = patched(out, body(json!([{ "op": "remove", "path": ENT }]))).expect("patched");
        assert_eq!(out, json!({ "userName": "a" }));
    }

    #[test]
    fn refusals_name_the_scim_error_type() {
        let kind = |b: Value| {
            patched(json!({ "userName": "a" }), b)
                .expect_err("refused")
                .kind
        };
        assert_eq!(
            kind(json!({ "Operations": "x" })),
            ScimErrorKind::InvalidSyntax
        );
        assert_eq!(
            kind(body(json!([{ "op": "move", "path": "a" }]))),
            ScimErrorKind::InvalidSyntax
        );
        assert_eq!(
            kind(body(json!([{ "op": "remove" }]))),
            ScimErrorKind::NoTarget
        );
        assert_eq!(
            kind(body(json!([{ "op": "add", "path": "x[" , "value": 1 }]))),
            ScimErrorKind::InvalidPath
        );
        assert_eq!(
            kind(body(
                json!([{ "op": "replace", "path": "id", "value": "1" }])
            )),
            ScimErrorKind::Mutability
        );
        assert_eq!(
            kind(body(json!([{ "op": "replace", "value": "x" }]))),
            ScimErrorKind::InvalidValue
        );
        assert_eq!(
            kind(body(
                json!([{ "op": "replace", "path": "emails[value co \"x\"].value", "value": "y" }])
            )),
            ScimErrorKind::NoTarget
        );
        assert_eq!(
            kind(json!({ "schemas": ["urn:other"], "Operations": [] })),
            ScimErrorKind::InvalidSyntax
        );
    }
}
