//! SAP's default transformations (spec/domain.md §4.5 "Default read transformations", §3.4
//! rule 35), as SAP Identity Provisioning documents them for each system type and API version,
//! so a system works without writing one. [`source`] and [`target`] pick the text;
//! [`super::Transformation::parse`] reads it.
//!
//! Invariant: every constant parses (tested), and the IAS v1 defaults are used only for
//! `ias.api.version` 1; any other version gets the v2 (Identity Directory) defaults.

use crate::runtime::SystemType;

/// The default read transformation of a source system.
pub fn source(system_type: SystemType, api_version: u8) -> &'static str {
    match system_type {
        SystemType::IdentityAuthentication if api_version == 1 => IAS_SOURCE_V1,
        SystemType::IdentityAuthentication => IAS_SOURCE_V2,
        SystemType::Scim => SCIM_SOURCE,
    }
}

/// The default write transformation of a target system.
pub fn target(system_type: SystemType, api_version: u8) -> &'static str {
    match system_type {
        SystemType::IdentityAuthentication if api_version == 1 => IAS_TARGET_V1,
        SystemType::IdentityAuthentication => IAS_TARGET_V2,
        SystemType::Scim => SCIM_TARGET,
    }
}

/// Identity Authentication source, SCIM API v1 [IAS-SRC]: `$.id` → `entityIdSourceSystem`,
/// `timeZone` → `timezone`, `company` → enterprise `organization`; groups are ignored until enabled.
pub const IAS_SOURCE_V1: &str = r#"{
  "user": {
    "mappings": [
      {"sourcePath": "$.id", "targetVariable": "entityIdSourceSystem", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']['userId']"},
      {"sourcePath": "$.userUuid", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['userUuid']"},
      {"sourcePath": "$.schemas", "preserveArrayWithSingleElement": true, "targetPath": "$.schemas"},
      {"sourcePath": "$.userName", "targetPath": "$.userName", "optional": true, "correlationAttribute": true},
      {"sourcePath": "$.name.givenName", "targetPath": "$.name.givenName", "optional": true},
      {"sourcePath": "$.name.middleName", "targetPath": "$.name.middleName", "optional": true},
      {"sourcePath": "$.name.familyName", "targetPath": "$.name.familyName", "optional": true},
      {"sourcePath": "$.name.honorificPrefix", "targetPath": "$.name.honorificPrefix", "optional": true},
      {"sourcePath": "$.emails", "preserveArrayWithSingleElement": true, "targetPath": "$.emails"},
      {"sourcePath": "$.emails[?(@.primary== true)].value", "correlationAttribute": true},
      {"sourcePath": "$.active", "targetPath": "$.active", "optional": true, "defaultValue": true},
      {"sourcePath": "$.userType", "targetPath": "$.userType", "optional": true},
      {"sourcePath": "$.addresses", "targetPath": "$.addresses", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$.locale", "targetPath": "$.locale", "optional": true},
      {"sourcePath": "$.phoneNumbers", "targetPath": "$.phoneNumbers", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$.timeZone", "targetPath": "$.timezone", "optional": true},
      {"sourcePath": "$.displayName", "targetPath": "$.displayName", "optional": true},
      {"sourcePath": "$.sourceSystemId", "targetPath": "$.sourceSystemId", "ignore": true},
      {"sourcePath": "$.groups", "targetPath": "$.groups", "preserveArrayWithSingleElement": true, "optional": true},
      {"condition": "$.displayName EMPTY true", "type": "remove", "targetPath": "$.displayName"},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['employeeNumber']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['employeeNumber']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['costCenter']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['costCenter']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['division']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['division']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['department']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['department']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['value']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['value']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['displayName']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['displayName']", "optional": true},
      {"sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']", "optional": true},
      {"sourcePath": "$.company", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "optional": true}
    ]
  },
  "group": {
    "ignore": true,
    "mappings": [
      {"sourcePath": "$.id", "targetVariable": "entityIdSourceSystem"},
      {"constant": "urn:ietf:params:scim:schemas:core:2.0:Group", "targetPath": "$.schemas[0]"},
      {"sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']", "targetPath": "$.displayName"},
      {"optional": true, "preserveArrayWithSingleElement": true, "sourcePath": "$.members", "targetPath": "$.members"},
      {"ignore": true, "constant": "urn:sap:cloud:scim:schemas:extension:custom:2.0:Group", "targetPath": "$.schemas[1]"},
      {"ignore": true, "sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']"},
      {"ignore": true, "optional": true, "sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['description']", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['description']"}
    ]
  }
}"#;

/// Identity Authentication source, Identity Directory SCIM API v2 [IAS-SRC]: pass-through of the
/// core, enterprise, sap, custom and sap.odm attributes; groups active; empty `displayName` removed.
pub const IAS_SOURCE_V2: &str = r#"{
  "user": {
    "mappings": [
      {"sourcePath": "$.id", "targetVariable": "entityIdSourceSystem", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']['userId']"},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['userId']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['userId']"},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['userUuid']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['userUuid']"},
      {"sourcePath": "$.schemas", "preserveArrayWithSingleElement": true, "targetPath": "$.schemas"},
      {"sourcePath": "$.userName", "targetPath": "$.userName", "optional": true, "correlationAttribute": true},
      {"sourcePath": "$.name.givenName", "targetPath": "$.name.givenName", "optional": true},
      {"sourcePath": "$.name.middleName", "targetPath": "$.name.middleName", "optional": true},
      {"sourcePath": "$.name.familyName", "targetPath": "$.name.familyName", "optional": true},
      {"sourcePath": "$.name.honorificPrefix", "targetPath": "$.name.honorificPrefix", "optional": true},
      {"sourcePath": "$.emails", "preserveArrayWithSingleElement": true, "targetPath": "$.emails"},
      {"sourcePath": "$.emails[?(@.primary== true)].value", "correlationAttribute": true},
      {"sourcePath": "$.active", "targetPath": "$.active"},
      {"sourcePath": "$.userType", "targetPath": "$.userType", "optional": true},
      {"sourcePath": "$.addresses", "targetPath": "$.addresses", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$.locale", "targetPath": "$.locale", "optional": true},
      {"sourcePath": "$.phoneNumbers", "targetPath": "$.phoneNumbers", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$.timezone", "targetPath": "$.timezone", "optional": true},
      {"sourcePath": "$.displayName", "targetPath": "$.displayName", "optional": true},
      {"sourcePath": "$.groups", "targetPath": "$.groups", "preserveArrayWithSingleElement": true, "optional": true},
      {"condition": "$.displayName EMPTY true", "type": "remove", "targetPath": "$.displayName"},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['validFrom']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['validFrom']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['validTo']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['validTo']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['sourceSystem']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['sourceSystem']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['sourceSystemId']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['sourceSystemId']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['employeeNumber']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['employeeNumber']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['costCenter']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['costCenter']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['division']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['division']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['department']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['department']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['value']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['value']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['displayName']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['displayName']", "optional": true},
      {"sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']", "optional": true},
      {"sourcePath": "$.company", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['workAssignment']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['workAssignment']", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['jobDetails']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['jobDetails']", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['workforcePersonId']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['workforcePersonId']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['jobClassification']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['jobClassification']", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['organizationalUnit']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['organizationalUnit']", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['costCenter']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['costCenter']", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['plant']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['plant']", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['companyCode']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['companyCode']", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['generalLedgerAccount']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['generalLedgerAccount']", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['purchasingOrganization']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['purchasingOrganization']", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['purchasingGroup']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap.odm:2.0:User']['purchasingGroup']", "preserveArrayWithSingleElement": true, "optional": true}
    ]
  },
  "group": {
    "mappings": [
      {"sourcePath": "$.id", "targetVariable": "entityIdSourceSystem"},
      {"sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']"},
      {"sourcePath": "$.displayName", "targetPath": "$.displayName"},
      {"sourcePath": "$.members", "targetPath": "$.members", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['applicationId']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['applicationId']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['type']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['type']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['supportedOperations']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['supportedOperations']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['externalName']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['externalName']", "optional": true}
    ]
  }
}"#;

/// Identity Authentication target, SCIM API v1 [IAS-TGT]; groups are ignored until enabled.
pub const IAS_TARGET_V1: &str = r#"{
  "user": {
    "condition": "($.emails.length() > 0) && ($.name.familyName EMPTY false) && isValidEmail($.emails[0].value)",
    "mappings": [
      {"sourcePath": "$.groups", "preserveArrayWithSingleElement": true, "optional": true, "targetPath": "$.corporateGroups"},
      {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
      {"constant": "urn:ietf:params:scim:schemas:core:2.0:User", "targetPath": "$.schemas[0]"},
      {"constant": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "targetPath": "$.schemas[1]"},
      {"sourcePath": "$.userName", "targetPath": "$.userName", "optional": true},
      {"sourcePath": "$.emails[*].value", "preserveArrayWithSingleElement": true, "targetPath": "$.emails[?(@.value)]"},
      {"sourcePath": "$.userType", "targetPath": "$.userType", "defaultValue": "employee", "optional": true},
      {"sourcePath": "$.name.givenName", "targetPath": "$.name.givenName", "optional": true},
      {"sourcePath": "$.name.middleName", "targetPath": "$.name.middleName", "optional": true},
      {"sourcePath": "$.name.familyName", "targetPath": "$.name.familyName", "optional": true},
      {"sourcePath": "$.name.honorificPrefix", "targetPath": "$.name.honorificPrefix", "optional": true},
      {"sourcePath": "$.addresses", "targetPath": "$.addresses", "preserveArrayWithSingleElement": true, "defaultValue": [], "optional": true, "functions": [{"function": "putIfAbsent", "key": "type", "defaultValue": "work"}, {"condition": "(@.type NIN ['work', 'home'])", "function": "putIfPresent", "key": "type", "defaultValue": "work"}]},
      {"sourcePath": "$.locale", "targetPath": "$.locale", "optional": true},
      {"sourcePath": "$.phoneNumbers", "targetPath": "$.phoneNumbers", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$.displayName", "targetPath": "$.displayName", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['employeeNumber']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['employeeNumber']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['costCenter']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['costCenter']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['division']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['division']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['department']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['department']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['value']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['value']", "optional": true, "functions": [{"function": "resolveEntityIds"}]},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['displayName']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['displayName']", "optional": true},
      {"sourcePath": "$.active", "targetPath": "$.active", "defaultValue": true, "optional": true},
      {"constant": "false", "targetPath": "$.sendMail", "scope": "createEntity"},
      {"constant": "true", "targetPath": "$.mailVerified", "scope": "createEntity"},
      {"constant": "disabled", "targetPath": "$.passwordStatus", "scope": "createEntity"},
      {"constant": "39", "targetPath": "$.sourceSystem", "scope": "createEntity"},
      {"sourcePath": "$.timezone", "targetPath": "$.timeZone", "optional": true}
    ]
  },
  "group": {
    "ignore": true,
    "mappings": [
      {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
      {"sourcePath": "$.displayName", "targetPath": "$.displayName"},
      {"scope": "createEntity", "sourcePath": "$.displayName", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']", "functions": [{"type": "replaceAllString", "regex": "[\\s\\p{Punct}]", "replacement": "_"}]},
      {"scope": "createEntity", "optional": true, "sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']"},
      {"optional": true, "sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['description']", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['description']"},
      {"optional": true, "preserveArrayWithSingleElement": true, "sourcePath": "$.members[*].value", "targetPath": "$.members[?(@.value)]", "functions": [{"type": "resolveEntityIds"}]}
    ]
  }
}"#;

/// Identity Authentication target, Identity Directory SCIM API v2 [IAS-TGT] (spec §3.4 rule 35):
/// users need an e-mail, a user name and a valid first e-mail; on create `sendMail=false`,
/// `mailVerified=true`, `passwordDetails.status=disabled`, e-mails verified; `userType` defaults to
/// `employee`, `active` to true, address `type` to `work`; members through `resolveEntityIds`.
pub const IAS_TARGET_V2: &str = r#"{
  "user": {
    "condition": "($.emails EMPTY false) && ($.userName EMPTY false) && isValidEmail($.emails[0].value)",
    "mappings": [
      {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
      {"constant": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:ietf:params:scim:schemas:extension:sap:2.0:User", "urn:sap:cloud:scim:schemas:extension:custom:2.0:User"], "targetPath": "$.schemas"},
      {"sourcePath": "$.userName", "targetPath": "$.userName"},
      {"sourcePath": "$.emails", "preserveArrayWithSingleElement": true, "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['emails']", "scope": "createEntity", "functions": [{"function": "putIfAbsent", "key": "verified", "defaultValue": true}]},
      {"targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['emails'][*]['type']", "type": "remove"},
      {"sourcePath": "$.emails[*].['value','display','primary']", "preserveArrayWithSingleElement": true, "targetPath": "$.emails"},
      {"sourcePath": "$.name.givenName", "targetPath": "$.name.givenName", "optional": true},
      {"sourcePath": "$.name.middleName", "targetPath": "$.name.middleName", "optional": true},
      {"sourcePath": "$.name.familyName", "targetPath": "$.name.familyName", "optional": true},
      {"sourcePath": "$.name.honorificPrefix", "targetPath": "$.name.honorificPrefix", "optional": true},
      {"sourcePath": "$.addresses", "targetPath": "$.addresses", "preserveArrayWithSingleElement": true, "defaultValue": [], "optional": true, "functions": [{"function": "putIfAbsent", "key": "type", "defaultValue": "work"}, {"condition": "(@.type NIN ['work', 'home'])", "function": "putIfPresent", "key": "type", "defaultValue": "work"}]},
      {"sourcePath": "$.phoneNumbers", "targetPath": "$.phoneNumbers", "preserveArrayWithSingleElement": true, "optional": true},
      {"sourcePath": "$.displayName", "targetPath": "$.displayName", "optional": true},
      {"sourcePath": "$.userType", "targetPath": "$.userType", "defaultValue": "employee", "optional": true},
      {"sourcePath": "$.locale", "targetPath": "$.locale", "optional": true},
      {"sourcePath": "$.timezone", "targetPath": "$.timezone", "optional": true},
      {"sourcePath": "$.active", "targetPath": "$.active", "defaultValue": true, "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['validFrom']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['validFrom']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['validTo']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['validTo']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['employeeNumber']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['employeeNumber']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['costCenter']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['costCenter']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['organization']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['division']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['division']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['department']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['department']", "optional": true},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['value']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['value']", "optional": true, "functions": [{"function": "resolveEntityIds"}]},
      {"sourcePath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['displayName']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['displayName']", "optional": true},
      {"constant": false, "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['sendMail']", "scope": "createEntity"},
      {"constant": true, "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['mailVerified']", "scope": "createEntity"},
      {"constant": "disabled", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['passwordDetails']['status']", "scope": "createEntity"},
      {"sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']['attributes']", "preserveArrayWithSingleElement": true, "optional": true, "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']['attributes']"},
      {"constant": "", "targetPath": "$.password", "scope": "createEntity", "ignore": "true"},
      {"constant": "", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['sourceSystem']", "scope": "createEntity", "ignore": true},
      {"constant": "", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']['sourceSystemId']", "scope": "createEntity", "ignore": true}
    ]
  },
  "group": {
    "mappings": [
      {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
      {"constant": ["urn:ietf:params:scim:schemas:core:2.0:Group", "urn:sap:cloud:scim:schemas:extension:custom:2.0:Group", "urn:ietf:params:scim:schemas:extension:sap:2.0:Group"], "targetPath": "$.schemas"},
      {"sourcePath": "$.displayName", "targetPath": "$.displayName"},
      {"sourcePath": "$.members[*].value", "preserveArrayWithSingleElement": true, "optional": true, "targetPath": "$.members[?(@.value)]", "functions": [{"entityType": "user", "type": "resolveEntityIds"}]},
      {"sourcePath": "$.members[*].value", "preserveArrayWithSingleElement": true, "optional": true, "targetPath": "$.members[?(@.value)]", "functions": [{"entityType": "group", "type": "resolveEntityIds"}]},
      {"sourcePath": "$.displayName", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']", "scope": "createEntity"},
      {"sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']", "optional": true, "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']", "scope": "createEntity"},
      {"sourcePath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['description']", "optional": true, "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['description']"},
      {"condition": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['applicationId'] EMPTY false", "sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['applicationId']", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['applicationId']"},
      {"condition": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['applicationId'] EMPTY false", "sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['type']", "optional": true, "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['type']"},
      {"condition": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['applicationId'] EMPTY false", "sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['supportedOperations']", "optional": true, "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['supportedOperations']"},
      {"condition": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['applicationId'] EMPTY false", "sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['externalName']", "optional": true, "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['externalName']"},
      {"condition": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['applicationId'] EMPTY false", "sourcePath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['externalLocation']", "optional": true, "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:Group']['externalLocation']", "scope": "createEntity"}
    ]
  }
}"#;

/// Generic SCIM 2.0 source [SCIM-SRC]: copy `$`, `id` → `entityIdSourceSystem`, drop `id` and
/// `meta`; groups ignored.
pub const SCIM_SOURCE: &str = r#"{
  "user": {
    "mappings": [
      {"targetPath": "$", "sourcePath": "$"},
      {"sourcePath": "$.id", "targetVariable": "entityIdSourceSystem"},
      {"sourcePath": "$.userName", "correlationAttribute": true},
      {"sourcePath": "$.emails[?(@.primary== true)].value", "optional": true, "correlationAttribute": true},
      {"type": "remove", "targetPath": "$.id"},
      {"type": "remove", "targetPath": "$.meta"}
    ]
  },
  "group": {
    "ignore": true,
    "mappings": [
      {"targetPath": "$", "sourcePath": "$"},
      {"sourcePath": "$.id", "targetVariable": "entityIdSourceSystem"},
      {"type": "remove", "targetPath": "$.id"},
      {"type": "remove", "targetPath": "$.meta"}
    ]
  }
}"#;

/// Generic SCIM 2.0 target [SCIM-TGT]: copy `$`, `entityIdTargetSystem` → `id`, first e-mail
/// primary, enterprise extension removed; groups ignored (members through `resolveEntityIds`).
pub const SCIM_TARGET: &str = r#"{
  "user": {
    "mappings": [
      {"sourcePath": "$", "targetPath": "$"},
      {"targetPath": "$.id", "type": "remove"},
      {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
      {"condition": "$.emails[0].length() > 0", "targetPath": "$.emails[0].primary", "constant": true},
      {"type": "remove", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']"}
    ]
  },
  "group": {
    "ignore": true,
    "mappings": [
      {"sourcePath": "$", "targetPath": "$"},
      {"targetPath": "$.id", "type": "remove"},
      {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
      {"targetPath": "$.members", "type": "remove"},
      {"sourcePath": "$.members[*].value", "preserveArrayWithSingleElement": true, "optional": true, "targetPath": "$.members[?(@.value)]", "functions": [{"type": "resolveEntityIds"}]}
    ]
  }
}"#;
