//! The command line's errors: each prints as one line (`error: ...`) and maps to an exit code.

use std::path::Path;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An option with a nonsense value.
    #[error("{0}")]
    Usage(String),
    /// A trace file that is not a valid trace.
    #[error("{path}:{line}: {reason}")]
    BadTrace {
        /// The trace file.
        path: String,
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The implementation under test disagrees with the expected results (trace replay, conform, generate).
    #[error("{0}")]
    Diverged(String),
    /// The child process of `conform` failed: it could not start, died, hung or answered garbage.
    #[error("{0}")]
    Child(String),
    /// A corrupt or truncated checkpoint.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The checkpoint file.
        path: String,
        /// What is wrong and where.
        reason: String,
    },
    /// `checkpoint inspect`: a serializer identity nesting deeper than the inspector parses
    /// (`MAX_IDENTITY_DEPTH`, docs/FORMAT.md §3).
    #[error(
        "{path}: the {serializer} serializer identity nests more than {limit} levels deep; inspect does not parse it"
    )]
    IdentityTooDeep {
        /// The checkpoint file.
        path: String,
        /// Which serializer (`key`, `namespace`, `state`, or `state I (NAME) namespace` / `state` in a stream).
        serializer: String,
        /// The deepest nesting parsed.
        limit: usize,
    },
    /// The soak run found a snapshot or checkpoint that differs from the model.
    #[error("{0}")]
    Mismatch(String),
}

impl CliError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        CliError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The process exit code: 1 for a finding (divergence, mismatch, corrupt checkpoint), 2 for bad input.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Diverged(_)
            | CliError::Mismatch(_)
            | CliError::Corrupt { .. }
            | CliError::IdentityTooDeep { .. } => 1,
            CliError::Io { .. } | CliError::Usage(_) | CliError::BadTrace { .. } | CliError::Child(_) => 2,
        }
    }
}

/// The commands' result type.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
