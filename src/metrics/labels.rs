//! The label sets of idrelay's metric families and the guard that keeps label values to a
//! known vocabulary.
//!
//! Invariant: a label value is either a code constant (kind, result, reason), or the name of a
//! tenant or resource (which the operator chose and which is not secret). Nothing else a user
//! sends — and never a secret — becomes a label value.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// The outcome of one reconcile of one object (operator) or one pass (files driver).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum ReconcileResult {
    /// The reconcile ran to the end (the resource may still be not Ready: that is status).
    Success,
    /// The reconcile could not finish (API error, apply failed, directory unreadable).
    Error,
}

/// What a files-driver pass wrote.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum PassOutcome {
    /// At least one status document changed (or appeared or disappeared), or the configuration
    /// was applied.
    Wrote,
    /// Nothing changed: no status document rewritten, no configuration applied.
    Noop,
    /// The pass failed (the directory could not be read).
    Error,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindResult {
    pub kind: String,
    pub result: ReconcileResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Kind {
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindReason {
    pub kind: String,
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindReady {
    pub kind: String,
    pub ready: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Outcome {
    pub result: PassOutcome,
}

/// A target system of a tenant (delivery engine).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantTarget {
    pub tenant: String,
    pub target: String,
}

/// A real-time target (`namespace/name` of the resource).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Target {
    pub target: String,
}

impl ReconcileResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::Error => "error",
        }
    }
}

impl EncodeLabelValue for ReconcileResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

impl PassOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PassOutcome::Wrote => "wrote",
            PassOutcome::Noop => "noop",
            PassOutcome::Error => "error",
        }
    }
}

impl EncodeLabelValue for PassOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// Longest code word accepted as a label value.
const MAX_WORD: usize = 64;

/// `word` when it is a code word (`A-Z a-z 0-9 _`, 1 to 64 characters), else `"Other"`: a
/// reason or kind that carries free text (a message, a URL, a secret by mistake) never
/// becomes a label value.
pub fn code_word(word: &str) -> &str {
    let ok = !word.is_empty()
        && word.len() <= MAX_WORD
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok { word } else { "Other" }
}

/// The readiness label value of a `Ready` condition status (`True`, `False`, else `Unknown`).
pub fn readiness(status: &str) -> &'static str {
    match status {
        "True" => "True",
        "False" => "False",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_code_words_become_labels() {
        assert_eq!(code_word("SecretNotFound"), "SecretNotFound");
        assert_eq!(code_word("DNS_error2"), "DNS_error2");
        assert_eq!(code_word(""), "Other");
        assert_eq!(code_word("password=hunter2"), "Other");
        assert_eq!(code_word("a b"), "Other");
        assert_eq!(code_word(&"x".repeat(65)), "Other");
    }

    #[test]
    fn readiness_has_three_values() {
        assert_eq!(readiness("True"), "True");
        assert_eq!(readiness("False"), "False");
        assert_eq!(readiness("maybe"), "Unknown");
        assert_eq!(readiness(""), "Unknown");
    }
}
