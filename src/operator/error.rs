//! Errors of the operator driver. None of them carries a secret value.

/// An error of one reconcile or of running the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Adding or removing the finalizer, or the reconcile inside it, failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// The runtime refused the configuration (the previous one stays in effect).
    #[error("applying the configuration failed: {0}")]
    Apply(String),
    /// The object has no name or namespace.
    #[error("the object has no name or namespace")]
    Unnamed,
    /// Connecting to the cluster failed.
    #[error("Kubernetes client: {0}")]
    Client(String),
    /// Leader election failed.
    #[error("leader election: {0}")]
    Lease(String),
    /// This instance lost the leadership; it stops so that only the leader reconciles.
    #[error("lost the leadership (lease {0}); stopping")]
    LostLeadership(String),
    /// Starting the runtime or a listener failed.
    #[error("{0}")]
    Startup(String),
}

impl Error {
    /// A CamelCase code word for the `reason` label of `reconcile_errors_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "ApiError",
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.metric_label(),
                _ => "FinalizerError",
            },
            Error::Apply(_) => "ApplyFailed",
            Error::Unnamed => "Unnamed",
            Error::Client(_) => "ClientError",
            Error::Lease(_) => "LeaseError",
            Error::LostLeadership(_) => "LostLeadership",
            Error::Startup(_) => "StartupError",
        }
    }
}
