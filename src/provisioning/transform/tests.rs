//! Behaviour of the transformation engine: SAP's documented examples (each with its documented
//! result), conditions, every function, scopes, variables, the default transformations and
//! errors that name the mapping.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::runtime::SystemType;

struct Resolver(BTreeMap<(EntityType, String), String>);

impl EntityIdResolver for Resolver {
    fn resolve(&self, entity: EntityType, source_id: &str) -> Option<String> {
        self.0.get(&(entity, source_id.to_string())).cloned()
    }
}

fn resolver() -> Resolver {
    let mut m = BTreeMap::new();
    m.insert((EntityType::User, "u1".to_string()), "T-u1".to_string());
    m.insert((EntityType::User, "u2".to_string()), "T-u2".to_string());
    m.insert((EntityType::User, "boss".to_string()), "T-boss".to_string());
    m.insert((EntityType::Group, "g1".to_string()), "T-g1".to_string());
    Resolver(m)
}

fn now() -> jiff::Timestamp {
    "2024-03-05T07:08:09.123Z".parse().unwrap()
}

struct Run {
    props: BTreeMap<String, String>,
    op: Operation,
    target_id: Option<String>,
}

impl Run {
    fn new(op: Operation) -> Run {
        Run {
            props: BTreeMap::new(),
            op,
            target_id: None,
        }
    }

    fn prop(mut self, k: &str, v: &str) -> Run {
        self.props.insert(k.into(), v.into());
        self
    }

    fn target_id(mut self, id: &str) -> Run {
        self.target_id = Some(id.into());
        self
    }

    fn outcome(
        &self,
        t: &Transformation,
        e: EntityType,
        input: &Value,
    ) -> Result<TransformOutcome, TransformError> {
        let r = resolver();
        let ctx = TransformContext {
            properties: &self.props,
            operation: self.op,
            entity_id_source_system: Some("src-1".into()),
            entity_id_target_system: self.target_id.clone(),
            resolver: &r,
            now: now(),
        };
        t.apply(e, input, &ctx)
    }

    fn user(&self, t: &str, input: Value) -> Value {
        self.mapped(t, EntityType::User, input).0
    }

    fn mapped(&self, t: &str, e: EntityType, input: Value) -> (Value, BTreeMap<String, Value>) {
        let t = Transformation::parse(t).unwrap();
        match self.outcome(&t, e, &input).unwrap() {
            TransformOutcome::Mapped { entity, variables } => (entity, variables),
            other => panic!("expected Mapped, got {other:?}"),
        }
    }

    fn skipped(&self, t: &str, e: EntityType, input: Value) -> String {
        let t = Transformation::parse(t).unwrap();
        match self.outcome(&t, e, &input).unwrap() {
            TransformOutcome::Skipped { reason } => reason,
            other => panic!("expected Skipped, got {other:?}"),
        }
    }

    fn error(&self, t: &str, input: Value) -> String {
        let t = Transformation::parse(t).unwrap();
        self.outcome(&t, EntityType::User, &input)
            .unwrap_err()
            .to_string()
    }
}

fn create() -> Run {
    Run::new(Operation::Create)
}

/// A user transformation with the given mappings.
fn user_rule(mappings: Value) -> String {
    json!({"user": {"mappings": mappings}}).to_string()
}

// ---------------------------------------------------------------- SAP's documented examples

#[test]
fn basic_transformation_copies_everything() {
    let input = json!({"userName": "a", "emails": [{"value": "a@x.com"}], "x": {"y": [1, 2]}});
    let out = create().user(
        &user_rule(json!([{"sourcePath": "$", "targetPath": "$"}])),
        input.clone(),
    );
    assert_eq!(out, input);
}

#[test]
fn active_directory_read_then_identity_authentication_write() {
    // [TR-EX] "Source, Intermediate, and Target Data".
    let read = r#"{
      "user": {
        "mappings": [
          {"sourcePath": "$.%ldap.attribute.user.id%[0]", "targetVariable": "entityIdSourceSystem", "correlationAttribute": true},
          {"condition": "('%ldap.attribute.user.id%' == '%ldap.attribute.dn%')", "constant": "", "targetVariable": "nestedPathRegex",
           "functions": [{"function": "concatString", "prefix": "(?i)cn=.*?,(.*?)", "suffix": ",%ldap.user.path%"}]},
          {"sourcePath": "$.sAMAccountName[0]", "targetPath": "$.userName", "correlationAttribute": true},
          {"sourcePath": "$.displayName[0]", "optional": true, "targetPath": "$.displayName"},
          {"constant": "urn:ietf:params:scim:schemas:core:2.0:User", "targetPath": "$.schemas[0]"},
          {"sourcePath": "$.mail[0]", "optional": true, "targetPath": "$.emails[0].value", "correlationAttribute": true},
          {"sourcePath": "$.givenName[0]", "optional": true, "targetPath": "$.name.givenName"},
          {"sourcePath": "$.sn[0]", "optional": true, "targetPath": "$.name.familyName"},
          {"sourcePath": "$.memberOf", "preserveArrayWithSingleElement": true, "optional": true, "targetPath": "$.groups[?(@.value)]"},
          {"sourcePath": "$.memberOf_2", "preserveArrayWithSingleElement": true, "optional": true, "targetPath": "$.groups_2[?(@.value)]"},
          {"sourcePath": "$.memberOf_3", "preserveArrayWithSingleElement": true, "optional": true, "targetPath": "$.groups_3[?(@.value)]"}
        ]
      }
    }"#;
    let source = json!({
        "sAMAccountName": ["jsmith"],
        "mail": ["john.smith@company.com"],
        "givenName": ["John"],
        "sn": ["Smith"],
        "memberOf": ["group1"],
        "memberOf_2": ["group21", "group22"],
        "memberOf_3": ["group31", "group32", "group33"]
    });
    let run = create()
        .prop("ldap.attribute.user.id", "sAMAccountName")
        .prop("ldap.attribute.dn", "distinguishedName");
    let (intermediate, vars) = run.mapped(read, EntityType::User, source);
    assert_eq!(vars["entityIdSourceSystem"], "jsmith");
    assert!(
        !vars.contains_key("nestedPathRegex"),
        "the condition is false"
    );
    assert_eq!(
        intermediate,
        json!({
            "userName": "jsmith",
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "emails": [{"value": "john.smith@company.com"}],
            "name": {"givenName": "John", "familyName": "Smith"},
            "groups": [{"value": "group1"}],
            "groups_2": [{"value": "group21"}, {"value": "group22"}],
            "groups_3": [{"value": "group31"}, {"value": "group32"}, {"value": "group33"}]
        })
    );
    let run = Run::new(Operation::Update).target_id("P000100");
    let out = run.user(defaults::IAS_TARGET_V1, intermediate);
    assert_eq!(out["id"], "P000100");
    assert_eq!(out["userName"], "jsmith");
    assert_eq!(
        out["name"],
        json!({"givenName": "John", "familyName": "Smith"})
    );
    assert_eq!(out["emails"], json!([{"value": "john.smith@company.com"}]));
    assert_eq!(out["corporateGroups"], json!([{"value": "group1"}]));
    assert_eq!(
        out["schemas"],
        json!([
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ])
    );
    assert_eq!(out["userType"], "employee");
    assert_eq!(out["active"], true);
    assert!(
        out.get("sendMail").is_none(),
        "createEntity mappings do not run on update"
    );
}

fn privileges() -> Value {
    json!({"PRIVILEGES": [{"COMPOSITE_PRIVILEGE": "SAP_01_COMP"}, {"COMPOSITE_PRIVILEGE": "SAP_02_COMP"}]})
}

#[test]
fn apply_on_attribute_example() {
    let t = user_rule(
        json!([{"sourcePath": "$.PRIVILEGES", "targetPath": "$.groups", "functions": [
            {"function": "replaceString", "applyOnElements": true, "target": "SAP", "replacement": "test", "applyOnAttribute": "COMPOSITE_PRIVILEGE"}
        ]}]),
    );
    assert_eq!(
        create().user(&t, privileges()),
        json!({"groups": [{"COMPOSITE_PRIVILEGE": "test_01_COMP"}, {"COMPOSITE_PRIVILEGE": "test_02_COMP"}]})
    );
}

#[test]
fn assign_to_attribute_example() {
    let t = user_rule(
        json!([{"sourcePath": "$.PRIVILEGES", "targetPath": "$.groups", "functions": [
            {"function": "replaceString", "applyOnElements": true, "target": "SAP", "replacement": "test",
             "applyOnAttribute": "COMPOSITE_PRIVILEGE", "assignToAttribute": "ASSIGNMENT"}
        ]}]),
    );
    assert_eq!(
        create().user(&t, privileges()),
        json!({"groups": [
            {"COMPOSITE_PRIVILEGE": "SAP_01_COMP", "ASSIGNMENT": "test_01_COMP"},
            {"COMPOSITE_PRIVILEGE": "SAP_02_COMP", "ASSIGNMENT": "test_02_COMP"}
        ]})
    );
}

#[test]
fn match_regex_example() {
    let t = user_rule(
        json!([{"sourcePath": "$.PRIVILEGES", "targetPath": "$.groups", "functions": [
            {"function": "matchRegex", "regex": ".*_COMP", "applyOnAttribute": "COMPOSITE_PRIVILEGE", "assignToAttribute": "composite"}
        ]}]),
    );
    let mut input = privileges();
    input["PRIVILEGES"][1]["COMPOSITE_PRIVILEGE"] = json!("SAP_02_ROLE");
    let out = create().user(&t, input);
    assert_eq!(out["groups"][0]["composite"], true);
    assert_eq!(out["groups"][1]["composite"], false);
}

#[test]
fn value_mapping_examples() {
    let tz = user_rule(
        json!([{"type": "valueMapping", "sourcePaths": ["$.user.timeZoneCode"], "targetPath": "$.timezone",
        "defaultValue": "Europe/Berlin", "valueMappings": [
            {"key": ["WDFT"], "mappedValue": "Europe/Berlin"},
            {"key": ["ISRAEL"], "mappedValue": "Asia/Jerusalem"},
            {"key": ["JAPAN"], "mappedValue": "Asia/Tokyo"}
        ]}]),
    );
    assert_eq!(
        create().user(&tz, json!({"user": {"timeZoneCode": "JAPAN"}}))["timezone"],
        "Asia/Tokyo"
    );
    assert_eq!(
        create().user(&tz, json!({"user": {"timeZoneCode": "NOPE"}}))["timezone"],
        "Europe/Berlin"
    );
    assert_eq!(create().user(&tz, json!({}))["timezone"], "Europe/Berlin");

    let two = user_rule(
        json!([{"sourcePaths": ["$.country", "$.city"], "defaultValue": "UTC", "targetPath": "$.timezone",
        "type": "valueMapping", "valueMappings": [
            {"key": ["US", "New York"], "mappedValue": "EST"},
            {"key": ["US", "Dallas"], "mappedValue": "CST"},
            {"key": ["Germany", "Berlin"], "mappedValue": "CET"}
        ]}]),
    );
    assert_eq!(
        create().user(&two, json!({"country": "US", "city": "Dallas"}))["timezone"],
        "CST"
    );
    assert_eq!(
        create().user(&two, json!({"country": "Germany", "city": "Berlin"}))["timezone"],
        "CET"
    );
    assert_eq!(
        create().user(&two, json!({"country": "Germany", "city": "Dallas"}))["timezone"],
        "UTC"
    );
    assert_eq!(
        create().user(&two, json!({"country": "US"}))["timezone"],
        "UTC"
    );
}

#[test]
fn rename_example() {
    let t = user_rule(json!([
        {"sourcePath": "$", "targetPath": "$"},
        {"targetPath": "$.name.lastName", "constant": "familyName", "type": "rename", "optional": true}
    ]));
    assert_eq!(
        create().user(&t, json!({"name": {"givenName": "J", "lastName": "Smith"}})),
        json!({"name": {"givenName": "J", "familyName": "Smith"}})
    );
    assert_eq!(create().user(&t, json!({"name": {}})), json!({"name": {}}));
}

#[test]
fn remove_type_deletes_from_the_output() {
    let t = user_rule(json!([
        {"sourcePath": "$", "targetPath": "$"},
        {"type": "remove", "targetPath": "$.groups"},
        {"type": "remove", "targetPath": "$.emails[*].type"},
        {"type": "remove", "targetPath": "$.nothing.here"}
    ]));
    let out = create().user(
        &t,
        json!({"groups": [1], "emails": [{"value": "a", "type": "work"}], "x": 1}),
    );
    assert_eq!(out, json!({"emails": [{"value": "a"}], "x": 1}));
}

#[test]
fn concat_string_examples() {
    let t = user_rule(
        json!([{"sourcePath": "$.sAMAccountName[0]", "targetPath": "$.userName",
        "functions": [{"function": "concatString", "prefix": "ips_", "suffix": 123}]}]),
    );
    assert_eq!(
        create().user(&t, json!({"sAMAccountName": ["johnsmith"]}))["userName"],
        "ips_johnsmith123"
    );

    let t = user_rule(
        json!([{"sourcePath": "$.userId", "targetPath": "$.emails[0].value",
        "functions": [{"function": "concatString", "suffix": "@%aad.domain.name%"}]}]),
    );
    let out = create()
        .prop("aad.domain.name", "mail.acme.com")
        .user(&t, json!({"userId": "johnsmith123"}));
    assert_eq!(
        out,
        json!({"emails": [{"value": "johnsmith123@mail.acme.com"}]})
    );
}

#[test]
fn string_function_examples() {
    let one = |f: Value, input: &str| -> Value {
        let t = user_rule(
            json!([{"sourcePath": "$.sAMAccountName[0]", "targetPath": "$.userName", "functions": [f]}]),
        );
        create().user(&t, json!({"sAMAccountName": [input]}))["userName"].clone()
    };
    assert_eq!(
        one(
            json!({"function": "replaceString", "target": "iag", "replacement": "ips"}),
            "iag_iag"
        ),
        "ips_ips"
    );
    assert_eq!(
        one(
            json!({"function": "replaceFirstString", "regex": "14\\d{1}", "replacement": 123}),
            "a140b145"
        ),
        "a123b145"
    );
    assert_eq!(
        one(
            json!({"function": "replaceLastString", "regex": "14\\d{1}", "replacement": 123}),
            "a140b145"
        ),
        "a140b123"
    );
    assert_eq!(
        one(
            json!({"function": "replaceAllString", "regex": "14\\d{1}", "replacement": 123}),
            "a140b145"
        ),
        "a123b123"
    );
    assert_eq!(
        one(
            json!({"function": "replaceAllString", "regex": "(\\w+)@(\\w+)", "replacement": "$2.$1"}),
            "jo@acme"
        ),
        "acme.jo"
    );
    assert_eq!(
        one(
            json!({"function": "substring", "beginIndex": 3, "endIndex": 5}),
            "johnsmith"
        ),
        "ns"
    );
    assert_eq!(
        one(
            json!({"function": "substring", "beginIndex": 4}),
            "johnsmith"
        ),
        "smith"
    );
    assert_eq!(
        one(
            json!({"function": "substring", "beginIndex": 4, "endIndex": 50}),
            "johnsmith"
        ),
        "smith"
    );
    assert_eq!(
        one(
            json!({"function": "toUpperCaseString", "locale": "en_EN"}),
            "JohnSmith"
        ),
        "JOHNSMITH"
    );
    assert_eq!(
        one(json!({"function": "toLowerCaseString"}), "JohnSmith"),
        "johnsmith"
    );
    assert_eq!(one(json!({"function": "toString"}), "x"), "x");
    assert_eq!(
        one(
            json!({"function": "compositeId", "separator": ":", "subId": "e0123456"}),
            "johnsmith"
        ),
        "johnsmith:e0123456"
    );
    assert_eq!(
        one(
            json!({"function": "getMatchedRegexGroup", "regex": "(?i)cn=.*?,(.*?),OU=testUsers", "groupIndex": 1}),
            "CN=test10,OU=subUsers,OU=testUsers"
        ),
        "OU=subUsers"
    );
    assert_eq!(
        one(
            json!({"function": "getMatchedRegexGroup", "regex": "(?i)cn=.*?,(.*?),OU=testUsers", "groupIndex": 0}),
            "CN=test10,OU=subUsers,OU=testUsers"
        ),
        "CN=test10,OU=subUsers,OU=testUsers"
    );
}

#[test]
fn functions_chain_in_order() {
    let t = user_rule(
        json!([{"sourcePath": "$.n", "targetPath": "$.n", "functions": [
            {"function": "toUpperCaseString"},
            {"type": "concatString", "prefix": "x-"},
            {"function": "replaceAllString", "regex": "[\\s\\p{Punct}]", "replacement": "_"}
        ]}]),
    );
    assert_eq!(
        create().user(&t, json!({"n": "my group.a"}))["n"],
        "x_MY_GROUP_A"
    );
}

#[test]
fn element_at_example() {
    let t = user_rule(
        json!([{"condition": "$.emails[?(@.primary == true)].value != []",
        "sourcePath": "$.emails[?(@.primary == true)].value", "preserveArrayWithSingleElement": true, "optional": true,
        "targetPath": "$.email", "functions": [{"function": "elementAt", "index": 0}]}]),
    );
    let input = json!({"emails": [{"value": "a@x.com"}, {"value": "b@x.com", "primary": true}, {"value": "c@x.com", "primary": true}]});
    assert_eq!(create().user(&t, input)["email"], "b@x.com");
    assert_eq!(
        create().user(&t, json!({"emails": [{"value": "a@x.com"}]})),
        json!({})
    );
}

#[test]
fn split_string_to_array_examples() {
    let input = json!({"countries": "Serbia,Germany,Spain"});
    let t = user_rule(
        json!([{"sourcePath": "$.countries", "targetPath": "$.countryList",
        "functions": [{"function": "splitStringToArray", "separator": ","}]}]),
    );
    assert_eq!(
        create().user(&t, input.clone())["countryList"],
        json!(["Serbia", "Germany", "Spain"])
    );
    let t = user_rule(
        json!([{"sourcePath": "$.countries", "targetPath": "$.countryList[?(@.name)]",
        "functions": [{"function": "splitStringToArray", "separator": ","}]}]),
    );
    assert_eq!(
        create().user(&t, input)["countryList"],
        json!([{"name": "Serbia"}, {"name": "Germany"}, {"name": "Spain"}])
    );
}

#[test]
fn put_if_absent_and_put_if_present_normalise_address_types() {
    let t = user_rule(
        json!([{"sourcePath": "$.addresses", "targetPath": "$.addresses", "preserveArrayWithSingleElement": true,
        "defaultValue": [], "optional": true, "functions": [
            {"function": "putIfAbsent", "key": "type", "defaultValue": "work"},
            {"condition": "(@.type NIN ['work', 'home'])", "function": "putIfPresent", "key": "type", "defaultValue": "work"}
        ]}]),
    );
    let input = json!({"addresses": [{"locality": "A"}, {"type": "home"}, {"type": "other"}, {"type": "work"}]});
    assert_eq!(
        create().user(&t, input)["addresses"],
        json!([{"locality": "A", "type": "work"}, {"type": "home"}, {"type": "work"}, {"type": "work"}])
    );
    assert_eq!(create().user(&t, json!({}))["addresses"], json!([]));
}

#[test]
fn copy_and_rename_map_entry_examples() {
    let input = json!({"user": {"role": [{"roleName": "ROLE1"}, {"roleName": "ROLE2"}]}});
    let t = |f: &str| {
        user_rule(
            json!([{"sourcePath": "$.user.role", "optional": true, "targetPath": "$.groups",
            "preserveArrayWithSingleElement": true, "functions": [{"function": f, "sourceKey": "roleName", "targetKey": "value"}]}]),
        )
    };
    assert_eq!(
        create().user(&t("copyMapEntry"), input.clone())["groups"],
        json!([{"roleName": "ROLE1", "value": "ROLE1"}, {"roleName": "ROLE2", "value": "ROLE2"}])
    );
    assert_eq!(
        create().user(&t("renameMapEntry"), input)["groups"],
        json!([{"value": "ROLE1"}, {"value": "ROLE2"}])
    );
}

#[test]
fn random_password_example() {
    let t = user_rule(
        json!([{"targetPath": "$.password", "functions": [{"function": "randomPassword",
        "passwordLength": 16, "minimumNumberOfLowercaseLetters": 4, "minimumNumberOfUppercaseLetters": 4,
        "minimumNumberOfDigits": 4, "minimumNumberOfSpecialSymbols": 4, "specialSymbols": ",./?~`!@#"}]}]),
    );
    let a = create().user(&t, json!({}))["password"]
        .as_str()
        .unwrap()
        .to_string();
    let b = create().user(&t, json!({}))["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(a.chars().count(), 16);
    assert!(a.chars().filter(char::is_ascii_lowercase).count() >= 4);
    assert!(a.chars().filter(char::is_ascii_uppercase).count() >= 4);
    assert!(a.chars().filter(char::is_ascii_digit).count() >= 4);
    assert!(a.chars().filter(|c| ",./?~`!@#".contains(*c)).count() >= 4);
    assert!(
        a.chars()
            .all(|c| c.is_ascii_alphanumeric() || ",./?~`!@#".contains(c))
    );
    assert_ne!(a, b);
}

#[test]
fn resolve_entity_ids_examples() {
    // Group members: unresolvable ids are dropped; preserve keeps a single member an array.
    let t = r#"{"group": {"mappings": [
        {"sourcePath": "$.members[*].value", "preserveArrayWithSingleElement": true, "optional": true,
         "targetPath": "$.members[?(@.value)]", "functions": [{"type": "resolveEntityIds"}]}]}}"#;
    let (out, _) = create().mapped(
        t,
        EntityType::Group,
        json!({"members": [{"value": "u1"}, {"value": "ghost"}, {"value": "u2"}]}),
    );
    assert_eq!(
        out,
        json!({"members": [{"value": "T-u1"}, {"value": "T-u2"}]})
    );
    let (out, _) = create().mapped(t, EntityType::Group, json!({"members": [{"value": "u1"}]}));
    assert_eq!(out, json!({"members": [{"value": "T-u1"}]}));

    // The manager is written only if it exists in the target.
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let t = user_rule(
        json!([{"sourcePath": format!("$['{ent}']['manager']['value']"),
        "targetPath": format!("$['{ent}']['manager']['value']"), "optional": true, "functions": [{"function": "resolveEntityIds"}]}]),
    );
    assert_eq!(
        create().user(&t, json!({ent: {"manager": {"value": "boss"}}})),
        json!({ent: {"manager": {"value": "T-boss"}}})
    );
    assert_eq!(
        create().user(&t, json!({ent: {"manager": {"value": "nobody"}}})),
        json!({})
    );

    // Conditional resolution per element (the Microsoft AD example's shape).
    let t = r#"{"group": {"mappings": [{"sourcePath": "$.members[*]", "targetPath": "$.members", "preserveArrayWithSingleElement": true,
        "optional": true, "functions": [
          {"condition": "@.type != 'Group'", "entityType": "user", "applyOnElements": true, "applyOnAttribute": "value", "type": "resolveEntityIds"},
          {"condition": "@.type == 'Group'", "entityType": "group", "applyOnElements": true, "applyOnAttribute": "value", "type": "resolveEntityIds"}
        ]}]}}"#;
    let (out, _) = create().mapped(
        t,
        EntityType::Group,
        json!({"members": [{"value": "u1", "type": "User"}, {"value": "g1", "type": "Group"}]}),
    );
    assert_eq!(
        out["members"],
        json!([{"value": "T-u1", "type": "User"}, {"value": "T-g1", "type": "Group"}])
    );
}

#[test]
fn assign_group_variable_example() {
    let t = user_rule(json!([
        {"sourcePath": "$.userName", "targetPath": "$.userName"},
        {"condition": "($.emails EMPTY false)", "constant": [{"id": "00f8ab94"}, {"id": "01231139"}], "targetVariable": "assignGroup"}
    ]));
    let (_, vars) = create().mapped(
        &t,
        EntityType::User,
        json!({"userName": "a", "emails": [{"value": "a@x.com"}]}),
    );
    assert_eq!(
        vars["assignGroup"],
        json!([{"id": "00f8ab94"}, {"id": "01231139"}])
    );
    let (_, vars) = create().mapped(&t, EntityType::User, json!({"userName": "a"}));
    assert!(!vars.contains_key("assignGroup"));
    // A single-element constant stays an array.
    let t = user_rule(json!([{"constant": [{"id": "g"}], "targetVariable": "assignGroup"}]));
    assert_eq!(
        create().mapped(&t, EntityType::User, json!({})).1["assignGroup"],
        json!([{"id": "g"}])
    );
}

#[test]
fn conditions_on_mappings_assign_groups_by_user_name() {
    let t = user_rule(json!([
        {"condition": "$.userName =~ /.*explorer.*/", "constant": "Explorers", "targetPath": "$.groups[0].value"},
        {"condition": "$.userName =~ /.*scifi.*/", "constant": "Scientists", "targetPath": "$.groups[1].value"}
    ]));
    assert_eq!(
        create().user(&t, json!({"userName": "the-explorer-scifi"}))["groups"],
        json!([{"value": "Explorers"}, {"value": "Scientists"}])
    );
    assert_eq!(
        create().user(&t, json!({"userName": "explorer1"}))["groups"],
        json!([{"value": "Explorers"}])
    );
    assert_eq!(create().user(&t, json!({"userName": "nobody"})), json!({}));
}

#[test]
fn custom_attribute_source_path_with_filter() {
    let t = user_rule(
        json!([{"sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']['attributes'][?(@.name=='customAttribute1')]['value']",
        "targetPath": "$.c1"}]),
    );
    let input = json!({"urn:sap:cloud:scim:schemas:extension:custom:2.0:User": {"attributes": [
        {"name": "customAttribute2", "value": "two"}, {"name": "customAttribute1", "value": "one"}]}});
    assert_eq!(create().user(&t, input)["c1"], "one");
}

#[test]
fn filter_target_paths_write_into_matching_elements_or_append() {
    let t = user_rule(json!([
        {"sourcePath": "$", "targetPath": "$"},
        {"constant": "new@x.com", "targetPath": "$.emails[?(@.primary == true)].value"},
        {"constant": "+1", "targetPath": "$.phoneNumbers[?(@.type == 'work')].value"}
    ]));
    let out = create().user(
        &t,
        json!({"emails": [{"value": "a@x.com"}, {"value": "b@x.com", "primary": true}]}),
    );
    assert_eq!(
        out["emails"],
        json!([{"value": "a@x.com"}, {"value": "new@x.com", "primary": true}])
    );
    assert_eq!(
        out["phoneNumbers"],
        json!([{"type": "work", "value": "+1"}])
    );
}

// ---------------------------------------------------------------- conditions

fn holds(condition: &str, input: Value) -> bool {
    let t = json!({"user": {"condition": condition, "mappings": [{"constant": 1, "targetPath": "$.ok"}]}}).to_string();
    let t = Transformation::parse(&t).unwrap();
    let run = create()
        .prop("ips.application.id", "app-1")
        .prop("s4hana.afc.group.prefix", "AFC_");
    matches!(
        run.outcome(&t, EntityType::User, &input).unwrap(),
        TransformOutcome::Mapped { .. }
    )
}

#[test]
fn documented_conditions() {
    let user = json!({
        "userName": "jsmith", "name": {"familyName": "Jones"}, "userType": "employee",
        "emails": [{"value": "j@example.com", "primary": true}, {"value": "x@other.org"}],
        "groups": [{"display": "ABC_admins"}, {"display": "Readers"}],
        "memberOf": ["group1", "group2"]
    });
    assert!(!holds(
        "$.emails[?(@.primary == true)].value == []",
        user.clone()
    ));
    assert!(holds(
        "$.emails[?(@.primary == true)].value == []",
        json!({"emails": [{"value": "a@b.c"}]})
    ));
    assert!(holds("$.name.familyName != 'Smith'", user.clone()));
    assert!(!holds("$.name.familyName != 'Jones'", user.clone()));
    assert!(holds("$.emails[0].value =~ /.*@example.com/", user.clone()));
    assert!(!holds(
        "$.emails[1].value =~ /.*@example.com/",
        user.clone()
    ));
    assert!(holds(
        "($.emails EMPTY true) || isValidEmail($.emails[0].value)",
        user.clone()
    ));
    assert!(holds(
        "($.emails EMPTY true) || isValidEmail($.emails[0].value)",
        json!({})
    ));
    assert!(!holds(
        "($.emails EMPTY true) || isValidEmail($.emails[0].value)",
        json!({"emails": [{"value": "not an email"}]})
    ));
    assert!(holds(
        "($.emails EMPTY false) && ($.userName EMPTY false) && isValidEmail($.emails[0].value)",
        user.clone()
    ));
    assert!(holds("isValidEmail($.emails[*].value)", user.clone()));
    assert!(!holds(
        "isValidEmail($.emails[*].value)",
        json!({"emails": [{"value": "a@b.co"}, {"value": "bad@"}]})
    ));
    assert!(holds(
        "$.groups[?(@.display =~ /ABC.*/)] empty false",
        user.clone()
    ));
    assert!(!holds(
        "$.groups[?(@.display =~ /XYZ.*/)] empty false",
        user.clone()
    ));
    assert!(holds(
        "$.groups EMPTY true || $.groups[?(@.display === 'XYZ' )] empty true",
        user.clone()
    ));
    assert!(!holds(
        "$.groups EMPTY true || $.groups[?(@.display === 'Readers' )] empty true",
        user.clone()
    ));
    assert!(holds(
        "($.groups EMPTY false) && ( ($.groups[?(@.display ==='ABC' )] != []) || ($.groups[?(@.display ==='Readers')] != []))",
        user.clone()
    ));
    assert!(!holds(
        "($.groups EMPTY false) && ( ($.groups[?(@.display ==='ABC' )] != []) || ($.groups[?(@.display ==='XYZ')] != []))",
        user.clone()
    ));
    assert!(holds("$.memberOf contains 'group1'", user.clone()));
    assert!(!holds("$.memberOf contains 'group9'", user.clone()));
    assert!(holds(
        "($.emails.length() > 0) && ($.name.familyName EMPTY false)",
        user.clone()
    ));
    assert!(!holds(
        "($.emails.length() > 0) && ($.name.familyName EMPTY false)",
        json!({"emails": [], "name": {"familyName": "X"}})
    ));
    assert!(holds(
        "$.userType === 'Employee' || $.userType === 'employee'",
        user.clone()
    ));
    assert!(holds("$.groups empty false", user.clone()));
    assert!(holds("$.userName EMPTY FALSE", user));
}

#[test]
fn condition_operators() {
    let v = json!({"n": 5, "s": "5", "b": true, "t": "work", "list": [1, 2], "name": "Anna", "empty": "", "nul": null});
    assert!(
        holds("$.n == '5'", v.clone()),
        "== is loose between numbers and strings"
    );
    assert!(
        !holds("$.n === '5'", v.clone()),
        "=== requires the same type"
    );
    assert!(holds("$.n !== '5'", v.clone()));
    assert!(holds("$.n === 5", v.clone()));
    assert!(holds(
        "$.n > 4 && $.n >= 5 && $.n < 6 && $.n <= 5",
        v.clone()
    ));
    assert!(!holds("$.n > 5", v.clone()));
    assert!(holds("$.name < 'Bob'", v.clone()));
    assert!(holds("$.b == true", v.clone()));
    assert!(!holds("$.b == 'true'", v.clone()));
    assert!(holds("$.t IN ['work', 'home']", v.clone()));
    assert!(holds("$.t NIN ['other']", v.clone()));
    assert!(holds("$.missing NIN ['other']", v.clone()));
    assert!(!holds("$.missing IN ['other']", v.clone()));
    assert!(holds("$.list size 2", v.clone()));
    assert!(holds("$.list subsetof [1, 2, 3]", v.clone()));
    assert!(holds("$.list anyof [2, 9]", v.clone()));
    assert!(holds("$.list noneof [7, 9]", v.clone()));
    assert!(holds(
        "$.empty EMPTY true && $.nul EMPTY true && $.missing EMPTY true",
        v.clone()
    ));
    assert!(!holds("$.missing EMPTY false", v.clone()));
    assert!(holds("$.missing != 'x'", v.clone()));
    assert!(!holds("$.missing == 'x'", v.clone()));
    assert!(holds("$.name =~ /anna/i", v.clone()));
    assert!(
        !holds("$.name =~ /nn/", v.clone()),
        "=~ matches the whole string"
    );
    assert!(holds("!($.n == 4)", v.clone()));
    assert!(holds("$.n", v.clone()), "a path alone tests existence");
    assert!(!holds("$.nul", v.clone()));
    assert!(holds("$.name.length() == 4", v.clone()));
    assert!(
        holds("'%s4hana.afc.group.prefix%' == 'AFC_'", v.clone()),
        "properties interpolate"
    );
    assert!(
        holds("'2024-03-05' <= '${currentDate}'", v),
        "variables interpolate"
    );
}

#[test]
fn condition_functions() {
    let sap = "urn:ietf:params:scim:schemas:extension:sap:2.0:Group";
    let app_group = json!({"displayName": "AFC_x", sap: {"applicationId": "app-1", "supportedOperations": "readOnly"}});
    let regular = json!({"displayName": "Team"});
    assert!(holds("isApplicationSpecificGroup()", app_group.clone()));
    assert!(holds("isApplicationSpecificGroup", app_group.clone()));
    assert!(!holds("isApplicationSpecificGroup()", regular.clone()));
    assert!(holds("isRegularGroup()", regular.clone()));
    assert!(!holds("isRegularGroup()", app_group.clone()));
    assert!(holds(
        "isAttributeWithOptionalPrefix($.displayName, s4hana.afc.group.prefix)",
        app_group.clone()
    ));
    assert!(!holds(
        "isAttributeWithOptionalPrefix($.displayName, s4hana.afc.group.prefix)",
        regular.clone()
    ));
    assert!(holds(
        "isAttributeWithOptionalPrefix($.missing, s4hana.afc.group.prefix)",
        regular.clone()
    ));
    assert!(holds(
        "isAttributeWithOptionalPrefix($.displayName, no.such.property)",
        regular.clone()
    ));
    assert!(holds(
        "isAttributeWithMandatoryPrefix($.displayName, s4hana.afc.group.prefix)",
        app_group
    ));
    assert!(!holds(
        "isAttributeWithMandatoryPrefix($.missing, s4hana.afc.group.prefix)",
        regular.clone()
    ));
    assert!(!holds(
        "isAttributeWithMandatoryPrefix($.displayName, no.such.property)",
        regular
    ));
}

// ---------------------------------------------------------------- entity rules, scopes, variables

#[test]
fn entity_condition_skips_with_the_documented_reason() {
    let t = r#"{"user": {"condition": "$.emails EMPTY false", "mappings": [{"sourcePath": "$", "targetPath": "$"}]}}"#;
    assert_eq!(
        create().skipped(t, EntityType::User, json!({"userName": "a"})),
        "The condition: $.emails EMPTY false, is not fulfilled."
    );
}

#[test]
fn skip_operations_apply_after_the_condition() {
    let t = r#"{"user": {"condition": "$.groups empty false", "skipOperations": ["update"], "mappings": [{"sourcePath": "$", "targetPath": "$"}]}}"#;
    let with_groups = json!({"groups": [{"value": "g"}]});
    assert_eq!(
        Run::new(Operation::Update).skipped(t, EntityType::User, with_groups.clone()),
        "Operation [update] is skipped in target transformation"
    );
    assert_eq!(
        Run::new(Operation::Update).skipped(t, EntityType::User, json!({})),
        "The condition: $.groups empty false, is not fulfilled."
    );
    assert_eq!(create().user(t, with_groups.clone()), with_groups);
    let t = r#"{"user": {"skipOperations": ["create", "delete"], "mappings": [{"sourcePath": "$", "targetPath": "$"}]}}"#;
    assert!(
        create()
            .skipped(t, EntityType::User, json!({}))
            .contains("[create]")
    );
    assert!(
        Run::new(Operation::Delete)
            .skipped(t, EntityType::User, json!({}))
            .contains("[delete]")
    );
}

#[test]
fn ignored_and_missing_rules_skip() {
    assert!(
        create()
            .skipped(
                defaults::SCIM_TARGET,
                EntityType::Group,
                json!({"displayName": "g"})
            )
            .contains("ignored")
    );
    let t = r#"{"user": {"mappings": [{"sourcePath": "$", "targetPath": "$"}]}}"#;
    assert!(
        create()
            .skipped(t, EntityType::Group, json!({}))
            .contains("no group mappings")
    );
    // An ignored mapping does nothing, even if it would fail.
    let t = user_rule(json!([{"ignore": "true", "sourcePath": "$.missing", "targetPath": "$.x"}]));
    assert_eq!(create().user(&t, json!({})), json!({}));
}

#[test]
fn create_scope_applies_only_on_create() {
    let t = user_rule(json!([
        {"sourcePath": "$.userName", "targetPath": "$.userName"},
        {"scope": "createEntity", "targetPath": "$.Password", "constant": "Initial1"}
    ]));
    assert_eq!(
        create().user(&t, json!({"userName": "a"})),
        json!({"userName": "a", "Password": "Initial1"})
    );
    assert_eq!(
        Run::new(Operation::Update).user(&t, json!({"userName": "a"})),
        json!({"userName": "a"})
    );
}

#[test]
fn delete_runs_only_delete_scoped_mappings_and_ignores_the_condition() {
    // [TR-EXPR] scope deleteEntity, Identity Authentication SCIM API version 2.
    let t = r#"{"user": {"condition": "$.emails EMPTY false", "mappings": [
        {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
        {"sourcePath": "$.userName", "targetPath": "$.userName"},
        {"constant": "urn:ietf:params:scim:api:messages:2.0:PatchOp", "targetPath": "$.schemas[0]", "scope": "deleteEntity"},
        {"constant": "replace", "targetPath": "$.Operations[0].op", "scope": "deleteEntity"},
        {"constant": "active", "targetPath": "$.Operations[0].path", "scope": "deleteEntity"},
        {"constant": false, "targetPath": "$.Operations[0].value", "scope": "deleteEntity"},
        {"constant": [{"id": "groupID"}], "targetVariable": "unassignGroup", "scope": "deleteEntity"}
    ]}}"#;
    let run = Run::new(Operation::Delete).target_id("T-1");
    let (out, vars) = run.mapped(t, EntityType::User, json!({"id": "x"}));
    assert_eq!(
        out,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "path": "active", "value": false}]})
    );
    assert_eq!(vars["unassignGroup"], json!([{"id": "groupID"}]));
    let parsed = Transformation::parse(t).unwrap();
    assert!(parsed.keeps_on_delete(EntityType::User));
    assert!(!parsed.keeps_on_delete(EntityType::Group));
    assert!(
        !Transformation::parse(defaults::IAS_TARGET_V2)
            .unwrap()
            .keeps_on_delete(EntityType::User)
    );
}

#[test]
fn variables_flow_between_mappings_and_out() {
    let t = user_rule(json!([
        {"sourcePath": "$.id", "targetVariable": "entityIdSourceSystem", "targetPath": "$.ext.userId"},
        {"sourceVariable": "entityIdSourceSystem", "targetPath": "$.copy"},
        {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
        {"sourceVariable": "currentDate", "targetPath": "$.when"},
        {"constant": "${entityIdSourceSystem}-x", "targetPath": "$.templated"}
    ]));
    let (out, vars) = create().mapped(&t, EntityType::User, json!({"id": "P000123"}));
    assert_eq!(
        out,
        json!({"ext": {"userId": "P000123"}, "copy": "P000123", "when": "2024-03-05 07:08:09.123", "templated": "P000123-x"})
    );
    assert_eq!(vars.len(), 1);
    assert_eq!(vars["entityIdSourceSystem"], "P000123");
    let (out, _) = Run::new(Operation::Update)
        .target_id("T-9")
        .prop("ips.date.variable.format", "yyyy-MM-dd")
        .mapped(&t, EntityType::User, json!({"id": "P000123"}));
    assert_eq!(out["id"], "T-9");
    assert_eq!(out["when"], "2024-03-05");
}

#[test]
fn preserve_array_with_single_element() {
    let keep = user_rule(
        json!([{"sourcePath": "$.emails[*].value", "targetPath": "$.e", "preserveArrayWithSingleElement": true}]),
    );
    let unwrap = user_rule(json!([{"sourcePath": "$.emails[*].value", "targetPath": "$.e"}]));
    let one = json!({"emails": [{"value": "a"}]});
    assert_eq!(create().user(&keep, one.clone())["e"], json!(["a"]));
    assert_eq!(create().user(&unwrap, one)["e"], "a");
    let two = json!({"emails": [{"value": "a"}, {"value": "b"}]});
    assert_eq!(create().user(&unwrap, two)["e"], json!(["a", "b"]));
}

#[test]
fn default_value_and_optional() {
    let t = user_rule(json!([
        {"sourcePath": "$.userType", "targetPath": "$.userType", "defaultValue": "employee", "optional": true},
        {"sourcePath": "$.locale", "targetPath": "$.locale", "optional": true},
        {"sourcePath": "$.nul", "targetPath": "$.nul", "optional": true}
    ]));
    assert_eq!(
        create().user(&t, json!({"nul": null})),
        json!({"userType": "employee"})
    );
    assert_eq!(
        create().user(&t, json!({"userType": "x", "locale": "de"})),
        json!({"userType": "x", "locale": "de"})
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn a_missing_mandatory_value_fails_naming_the_mapping() {
    let t = user_rule(json!([
        {"sourcePath": "$.a", "targetPath": "$.a", "optional": true},
        {"sourcePath": "$.b", "targetPath": "$.b", "optional": true},
        {"sourcePath": "$.x", "targetPath": "$.x"}
    ]));
    assert_eq!(
        create().error(&t, json!({"a": 1})),
        "mapping user.mappings[2]: no value at $.x"
    );
    let t = user_rule(json!([{"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"}]));
    assert_eq!(
        create().user(&t, json!({})),
        json!({}),
        "no target id yet on create"
    );
    assert_eq!(
        Run::new(Operation::Update).error(&t, json!({})),
        "mapping user.mappings[0]: variable 'entityIdTargetSystem' has no value"
    );
    let t = user_rule(
        json!([{"sourcePath": "$.o", "targetPath": "$.o", "functions": [{"function": "toUpperCaseString"}]}]),
    );
    assert_eq!(
        create().error(&t, json!({"o": {"k": 1}})),
        "mapping user.mappings[0]: functions[0]: toUpperCaseString needs a string value"
    );
}

fn parse_error(t: Value) -> String {
    Transformation::parse(&t.to_string())
        .unwrap_err()
        .to_string()
}

#[test]
fn parse_errors_name_the_part() {
    let ok = json!({"sourcePath": "$.a", "targetPath": "$.a"});
    let with = |m: Value| json!({"user": {"mappings": [ok.clone(), ok.clone(), ok.clone(), m]}});
    assert_eq!(
        parse_error(with(
            json!({"sourcePath": "$.a", "targetPath": "$.b", "functions": [{"function": "foo"}]})
        )),
        "user.mappings[3].functions[0]: unknown function 'foo'"
    );
    assert_eq!(
        parse_error(with(
            json!({"sourcePath": "$.a", "targetPath": "$.b", "functions": [{"type": "manipulateDate"}]})
        )),
        "user.mappings[3].functions[0]: function 'manipulateDate' is not supported"
    );
    assert!(
        parse_error(with(json!({"sourcePath": "$.a[", "targetPath": "$.b"})))
            .starts_with("user.mappings[3]: expected")
    );
    assert!(
        parse_error(with(json!({"sourcepath": "$.a", "targetPath": "$.b"})))
            .contains("unknown key 'sourcepath'")
    );
    assert!(
        parse_error(with(
            json!({"sourcePath": "$.a", "targetPath": "$.b", "type": "copy"})
        ))
        .contains("unknown type 'copy'")
    );
    assert!(
        parse_error(with(
            json!({"sourcePath": "$.a", "targetPath": "$.b", "scope": "always"})
        ))
        .contains("unknown scope")
    );
    assert!(
        parse_error(with(
            json!({"sourcePath": "$.a", "constant": 1, "targetPath": "$.b"})
        ))
        .contains("only one of")
    );
    assert!(parse_error(with(json!({"targetPath": "$.b"}))).contains("has no value"));
    assert!(parse_error(with(json!({"type": "remove"}))).contains("needs a 'targetPath'"));
    assert!(parse_error(with(json!({"type": "rename", "targetPath": "$.a"}))).contains("new name"));
    assert!(
        parse_error(with(json!({"sourcePaths": ["$.a"], "targetPath": "$.b"})))
            .contains("valueMapping")
    );
    assert!(
        parse_error(with(
            json!({"type": "valueMapping", "sourcePaths": ["$.a", "$.b"], "targetPath": "$.t",
        "valueMappings": [{"key": ["x"], "mappedValue": 1}]})
        ))
        .starts_with("user.mappings[3].valueMappings[0]: the key has 1")
    );
    assert!(
        parse_error(with(
            json!({"condition": "$.a ==", "sourcePath": "$.a", "targetPath": "$.b"})
        ))
        .starts_with("user.mappings[3]: expected a value")
    );
    assert!(parse_error(with(json!({"sourcePath": "$.a", "targetPath": "$.b", "functions": [{"function": "replaceAllString", "regex": "(", "replacement": ""}]})))
        .starts_with("user.mappings[3].functions[0]: invalid regular expression"));
    assert!(parse_error(with(json!({"targetPath": "$.p", "functions": [{"function": "randomPassword", "passwordLength": 4,
        "minimumNumberOfLowercaseLetters": 2, "minimumNumberOfUppercaseLetters": 2, "minimumNumberOfDigits": 1, "minimumNumberOfSpecialSymbols": 0}]})))
        .contains("exceed"));
    assert!(
        parse_error(with(json!({"sourcePath": "$.a", "targetPath": "@.b"})))
            .contains("must start with '$'")
    );
    assert_eq!(
        parse_error(json!({"user": {"condition": "foo($.a)", "mappings": []}})),
        "user.condition: unknown condition function 'foo' at position 0 in 'foo($.a)'"
    );
    assert!(
        parse_error(json!({"user": {"skipOperations": ["merge"], "mappings": []}}))
            .starts_with("user.skipOperations")
    );
    assert!(parse_error(json!({"user": []})).starts_with("user: "));
    assert!(
        Transformation::parse("{")
            .unwrap_err()
            .to_string()
            .starts_with("transformation is not valid JSON")
    );
    assert!(
        Transformation::parse("[]")
            .unwrap_err()
            .to_string()
            .starts_with("transformation is not valid JSON")
    );
}

#[test]
fn templated_parts_are_checked_at_parse_and_compiled_at_run() {
    // A templated condition that cannot parse even with placeholders filled fails at parse.
    assert!(
        parse_error(json!({"user": {"condition": "'%a.b%' ==", "mappings": []}}))
            .starts_with("user.condition")
    );
    // A templated regex compiles after rendering.
    let t = user_rule(
        json!([{"condition": "$.groups[?(@.display =~ /%c4c.group.prefix%.*/)] empty false",
        "constant": true, "targetPath": "$.member"}]),
    );
    let input = json!({"groups": [{"display": "C4C_sales"}]});
    assert_eq!(
        create()
            .prop("c4c.group.prefix", "C4C_")
            .user(&t, input.clone()),
        json!({"member": true})
    );
    assert_eq!(
        create().prop("c4c.group.prefix", "XYZ_").user(&t, input),
        json!({})
    );
}

#[test]
fn comments_and_lenient_flags_are_accepted() {
    let t = Transformation::parse(defaults::IAS_SOURCE_V1).unwrap();
    let with_comments = format!(
        "// SAP writes comments\n{}",
        defaults::IAS_SOURCE_V1.replacen("\"group\"", "/* groups */ \"group\"", 1)
    );
    assert_eq!(Transformation::parse(&with_comments).unwrap(), t);
    assert_ne!(Transformation::parse(defaults::IAS_SOURCE_V2).unwrap(), t);
}

// ---------------------------------------------------------------- defaults

#[test]
fn every_default_parses_and_is_picked_by_type_and_version() {
    for text in [
        defaults::IAS_SOURCE_V1,
        defaults::IAS_SOURCE_V2,
        defaults::IAS_TARGET_V1,
        defaults::IAS_TARGET_V2,
        defaults::SCIM_SOURCE,
        defaults::SCIM_TARGET,
    ] {
        Transformation::parse(text).unwrap();
    }
    let ias = SystemType::IdentityAuthentication;
    assert_eq!(defaults::source(ias, 1), defaults::IAS_SOURCE_V1);
    assert_eq!(defaults::source(ias, 2), defaults::IAS_SOURCE_V2);
    assert_eq!(defaults::target(ias, 1), defaults::IAS_TARGET_V1);
    assert_eq!(defaults::target(ias, 2), defaults::IAS_TARGET_V2);
    assert_eq!(defaults::source(SystemType::Scim, 2), defaults::SCIM_SOURCE);
    assert_eq!(defaults::target(SystemType::Scim, 1), defaults::SCIM_TARGET);
}

const SAP_USER: &str = "urn:ietf:params:scim:schemas:extension:sap:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn directory_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", SAP_USER],
        "id": "9f1c7a2e-0000-4000-8000-000000000001",
        "meta": {"resourceType": "User"},
        "userName": "jdoe",
        "name": {"givenName": "John", "familyName": "Doe"},
        "displayName": "",
        "emails": [{"value": "john.doe@example.com", "primary": true, "type": "work"}],
        "active": true,
        "addresses": [{"type": "other", "locality": "Berlin"}],
        SAP_USER: {"userId": "P000123", "userUuid": "9f1c7a2e-0000-4000-8000-000000000001", "sourceSystem": 0},
        ENTERPRISE: {"department": "Dev", "manager": {"value": "boss"}}
    })
}

#[test]
fn ias_v2_source_default_reads_a_directory_user() {
    let (internal, vars) =
        create().mapped(defaults::IAS_SOURCE_V2, EntityType::User, directory_user());
    assert_eq!(
        vars["entityIdSourceSystem"],
        "9f1c7a2e-0000-4000-8000-000000000001"
    );
    assert_eq!(
        internal["urn:sap:cloud:scim:schemas:extension:custom:2.0:User"]["userId"],
        "9f1c7a2e-0000-4000-8000-000000000001"
    );
    assert_eq!(internal[SAP_USER]["userId"], "P000123");
    assert_eq!(internal["userName"], "jdoe");
    assert_eq!(internal["emails"], directory_user()["emails"]);
    assert_eq!(internal[ENTERPRISE]["department"], "Dev");
    assert!(
        internal.get("displayName").is_none(),
        "an empty displayName is removed"
    );
    assert!(internal.get("id").is_none() && internal.get("meta").is_none());
}

#[test]
fn ias_v2_target_default_create_update_and_skip() {
    let (internal, _) =
        create().mapped(defaults::IAS_SOURCE_V2, EntityType::User, directory_user());
    let out = create().user(defaults::IAS_TARGET_V2, internal.clone());
    assert!(out.get("id").is_none(), "no target id on create");
    assert_eq!(out["userName"], "jdoe");
    assert_eq!(out[SAP_USER]["sendMail"], false);
    assert_eq!(out[SAP_USER]["mailVerified"], true);
    assert_eq!(out[SAP_USER]["passwordDetails"]["status"], "disabled");
    assert_eq!(
        out[SAP_USER]["emails"],
        json!([{"value": "john.doe@example.com", "primary": true, "verified": true}])
    );
    assert_eq!(
        out["emails"],
        json!([{"value": "john.doe@example.com", "primary": true}])
    );
    assert_eq!(out["userType"], "employee");
    assert_eq!(out["active"], true);
    assert_eq!(
        out["addresses"],
        json!([{"type": "work", "locality": "Berlin"}])
    );
    assert_eq!(out[ENTERPRISE]["manager"]["value"], "T-boss");
    assert_eq!(out["schemas"].as_array().map(Vec::len), Some(4));
    assert!(out.get("password").is_none(), "ignored mapping");

    let updated = Run::new(Operation::Update)
        .target_id("T-77")
        .user(defaults::IAS_TARGET_V2, internal.clone());
    assert_eq!(updated["id"], "T-77");
    assert!(updated[SAP_USER].get("sendMail").is_none());
    assert!(updated[SAP_USER].get("emails").is_none());

    let mut no_mail = internal.clone();
    no_mail["emails"] = json!([]);
    assert_eq!(
        create().skipped(defaults::IAS_TARGET_V2, EntityType::User, no_mail),
        "The condition: ($.emails EMPTY false) && ($.userName EMPTY false) && isValidEmail($.emails[0].value), is not fulfilled."
    );
    let mut bad_mail = internal;
    bad_mail["emails"] = json!([{"value": "nope"}]);
    assert!(
        create()
            .skipped(defaults::IAS_TARGET_V2, EntityType::User, bad_mail)
            .starts_with("The condition")
    );
}

#[test]
fn ias_v2_group_defaults_resolve_user_and_group_members() {
    let group = json!({
        "id": "g-src", "displayName": "Team A",
        "members": [{"value": "u1", "type": "User"}, {"value": "g1", "type": "Group"}, {"value": "ghost"}],
        "urn:sap:cloud:scim:schemas:extension:custom:2.0:Group": {"name": "team_a"}
    });
    let (internal, vars) = create().mapped(defaults::IAS_SOURCE_V2, EntityType::Group, group);
    assert_eq!(vars["entityIdSourceSystem"], "g-src");
    let (out, _) = create().mapped(defaults::IAS_TARGET_V2, EntityType::Group, internal.clone());
    assert_eq!(out["displayName"], "Team A");
    assert_eq!(
        out["members"],
        json!([{"value": "T-u1"}, {"value": "T-g1"}])
    );
    assert_eq!(
        out["urn:sap:cloud:scim:schemas:extension:custom:2.0:Group"]["name"],
        "team_a"
    );
    let (out, _) = Run::new(Operation::Update).target_id("T-g").mapped(
        defaults::IAS_TARGET_V2,
        EntityType::Group,
        internal,
    );
    assert_eq!(out["id"], "T-g");
    assert!(
        out.get("urn:sap:cloud:scim:schemas:extension:custom:2.0:Group")
            .is_none()
    );
}

#[test]
fn ias_v1_defaults() {
    let v1_user = json!({"id": "P000123", "userUuid": "uuid-1", "schemas": ["urn:scim:schemas:core:1.0"], "userName": "jdoe",
        "emails": [{"value": "j@example.com", "primary": true}], "timeZone": "Europe/Berlin", "company": "ACME",
        "name": {"familyName": "Doe"}});
    let (internal, vars) = create().mapped(defaults::IAS_SOURCE_V1, EntityType::User, v1_user);
    assert_eq!(vars["entityIdSourceSystem"], "P000123");
    assert_eq!(internal["timezone"], "Europe/Berlin");
    assert_eq!(internal[ENTERPRISE]["organization"], "ACME");
    assert_eq!(internal["active"], true);
    assert_eq!(internal["schemas"], json!(["urn:scim:schemas:core:1.0"]));
    assert!(
        create()
            .skipped(
                defaults::IAS_SOURCE_V1,
                EntityType::Group,
                json!({"id": "g"})
            )
            .contains("ignored")
    );
    let out = create().user(defaults::IAS_TARGET_V1, internal);
    assert_eq!(out["sendMail"], "false");
    assert_eq!(out["passwordStatus"], "disabled");
    assert_eq!(out["timeZone"], "Europe/Berlin");
    assert_eq!(out["emails"], json!([{"value": "j@example.com"}]));
}

#[test]
fn scim_defaults() {
    let scim_user = json!({"id": "ext-1", "meta": {"version": "1"}, "userName": "a",
        "emails": [{"value": "a@x.com"}, {"value": "b@x.com"}], ENTERPRISE: {"department": "Dev"}});
    let (internal, vars) = create().mapped(defaults::SCIM_SOURCE, EntityType::User, scim_user);
    assert_eq!(vars["entityIdSourceSystem"], "ext-1");
    assert_eq!(
        internal,
        json!({"userName": "a", "emails": [{"value": "a@x.com"}, {"value": "b@x.com"}], ENTERPRISE: {"department": "Dev"}})
    );
    let out = Run::new(Operation::Update)
        .target_id("T-5")
        .user(defaults::SCIM_TARGET, internal.clone());
    assert_eq!(
        out,
        json!({"userName": "a", "emails": [{"value": "a@x.com", "primary": true}, {"value": "b@x.com"}], "id": "T-5"})
    );
    let out = create().user(defaults::SCIM_TARGET, json!({"userName": "n"}));
    assert_eq!(
        out,
        json!({"userName": "n"}),
        "no emails: nothing marked primary"
    );
    assert!(
        create()
            .skipped(defaults::SCIM_SOURCE, EntityType::Group, json!({}))
            .contains("ignored")
    );
    // With the group rule enabled, members resolve through resolveEntityIds.
    let enabled = defaults::SCIM_TARGET.replacen("\"ignore\": true,", "", 1);
    let (out, _) = Run::new(Operation::Update).target_id("T-g").mapped(
        &enabled,
        EntityType::Group,
        json!({"displayName": "G", "members": [{"value": "u1"}, {"value": "u2"}]}),
    );
    assert_eq!(
        out,
        json!({"displayName": "G", "id": "T-g", "members": [{"value": "T-u1"}, {"value": "T-u2"}]})
    );
}

#[test]
fn transformations_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Transformation>();
    assert_send_sync::<TransformError>();
}

#[test]
fn variable_values_cannot_change_a_condition() {
    let t = user_rule(json!([
        {"sourcePath": "$.id", "targetVariable": "entityIdSourceSystem"},
        {"condition": "'${entityIdSourceSystem}' == 'x'", "constant": true, "targetPath": "$.hit"}
    ]));
    assert_eq!(create().user(&t, json!({"id": "x"})), json!({"hit": true}));
    assert_eq!(
        create().user(&t, json!({"id": "y' || 'a' == 'a"})),
        json!({})
    );
    assert_eq!(create().user(&t, json!({"id": "it's"})), json!({}));
}
