//! The crate's one error type and its mapping to Python exceptions.
//!
//! Database failures surface as Python's own `sqlite3` exception classes, chosen
//! from SQLite's result code as CPython's `_sqlite3` module chooses them, so the
//! pure and the Rust engine raise the very same types for the same failure.

use std::fmt;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use rusqlite::ffi;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum Error {
    /// An error reported by SQLite or by rusqlite while reading a row.
    Sqlite(rusqlite::Error),
    /// A failure the engine detects itself (a write on a read-only engine, a schema
    /// from the future); Python's sqlite3 would raise OperationalError.
    Operational(String),
    /// The engine was closed; Python's sqlite3 raises ProgrammingError then.
    Closed,
    /// A value of a type SQLite cannot store (Python's sqlite3 raises ProgrammingError).
    Unsupported(String),
    /// A caller-supplied callback (such as blob decoding) failed; the caller
    /// holds the real cause and reports it itself.
    Callback,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(err) => write!(f, "{err}"),
            Error::Closed => f.write_str("Cannot operate on a closed database."),
            Error::Operational(message) | Error::Unsupported(message) => f.write_str(message),
            Error::Callback => f.write_str("a callback failed"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::Sqlite(err)
    }
}

/// The name of the `sqlite3` exception class CPython raises for a primary result code.
fn sqlite3_class_for(code: i32) -> &'static str {
    match code & 0xff {
        ffi::SQLITE_INTERNAL | ffi::SQLITE_NOTFOUND => "InternalError",
        ffi::SQLITE_NOMEM => "MemoryError",
        ffi::SQLITE_ERROR
        | ffi::SQLITE_PERM
        | ffi::SQLITE_ABORT
        | ffi::SQLITE_BUSY
        | ffi::SQLITE_LOCKED
        | ffi::SQLITE_READONLY
        | ffi::SQLITE_INTERRUPT
        | ffi::SQLITE_IOERR
        | ffi::SQLITE_FULL
        | ffi::SQLITE_CANTOPEN
        | ffi::SQLITE_PROTOCOL
        | ffi::SQLITE_EMPTY
        | ffi::SQLITE_SCHEMA => "OperationalError",
        ffi::SQLITE_TOOBIG => "DataError",
        ffi::SQLITE_CONSTRAINT | ffi::SQLITE_MISMATCH => "IntegrityError",
        ffi::SQLITE_MISUSE | ffi::SQLITE_RANGE => "InterfaceError",
        // NOTADB, CORRUPT and anything else.
        _ => "DatabaseError",
    }
}

/// Build an instance of `sqlite3.<class_name>` carrying `message`, with the
/// `sqlite_errorcode` (and, for primary codes, `sqlite_errorname`) attributes CPython sets.
fn sqlite3_error(py: Python<'_>, class_name: &str, message: String, code: Option<i32>) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let sqlite3 = PyModule::import(py, "sqlite3")?;
        let class = sqlite3.getattr(class_name)?;
        let exc = class.call1((message.clone(),))?;
        if let Some(code) = code {
            exc.setattr("sqlite_errorcode", code)?;
            // Extended codes have longer names; only primary ones are named here.
            if code == code & 0xff {
                exc.setattr("sqlite_errorname", error_name(code))?;
            }
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| {
        // Only if the sqlite3 module itself cannot be imported.
        PyRuntimeError::new_err(format!("{message} (and sqlite3 is unavailable: {err})"))
    })
}

/// SQLite's symbolic name of a result code, as `sqlite3.Error.sqlite_errorname`.
fn error_name(code: i32) -> String {
    let name = match code & 0xff {
        ffi::SQLITE_ERROR => "SQLITE_ERROR",
        ffi::SQLITE_INTERNAL => "SQLITE_INTERNAL",
        ffi::SQLITE_PERM => "SQLITE_PERM",
        ffi::SQLITE_ABORT => "SQLITE_ABORT",
        ffi::SQLITE_BUSY => "SQLITE_BUSY",
        ffi::SQLITE_LOCKED => "SQLITE_LOCKED",
        ffi::SQLITE_NOMEM => "SQLITE_NOMEM",
        ffi::SQLITE_READONLY => "SQLITE_READONLY",
        ffi::SQLITE_INTERRUPT => "SQLITE_INTERRUPT",
        ffi::SQLITE_IOERR => "SQLITE_IOERR",
        ffi::SQLITE_CORRUPT => "SQLITE_CORRUPT",
        ffi::SQLITE_NOTFOUND => "SQLITE_NOTFOUND",
        ffi::SQLITE_FULL => "SQLITE_FULL",
        ffi::SQLITE_CANTOPEN => "SQLITE_CANTOPEN",
        ffi::SQLITE_PROTOCOL => "SQLITE_PROTOCOL",
        ffi::SQLITE_EMPTY => "SQLITE_EMPTY",
        ffi::SQLITE_SCHEMA => "SQLITE_SCHEMA",
        ffi::SQLITE_TOOBIG => "SQLITE_TOOBIG",
        ffi::SQLITE_CONSTRAINT => "SQLITE_CONSTRAINT",
        ffi::SQLITE_MISMATCH => "SQLITE_MISMATCH",
        ffi::SQLITE_MISUSE => "SQLITE_MISUSE",
        ffi::SQLITE_NOLFS => "SQLITE_NOLFS",
        ffi::SQLITE_AUTH => "SQLITE_AUTH",
        ffi::SQLITE_FORMAT => "SQLITE_FORMAT",
        ffi::SQLITE_RANGE => "SQLITE_RANGE",
        ffi::SQLITE_NOTADB => "SQLITE_NOTADB",
        _ => "SQLITE_UNKNOWN",
    };
    name.to_owned()
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        Python::attach(|py| match err {
            Error::Sqlite(rusqlite::Error::SqliteFailure(failure, message)) => {
                let message = message.unwrap_or_else(|| failure.to_string());
                let code = failure.extended_code;
                sqlite3_error(py, sqlite3_class_for(code), message, Some(code))
            }
            Error::Sqlite(other) => sqlite3_error(py, "DatabaseError", other.to_string(), None),
            Error::Operational(message) => sqlite3_error(py, "OperationalError", message, None),
            Error::Closed | Error::Unsupported(_) => {
                sqlite3_error(py, "ProgrammingError", err.to_string(), None)
            }
            Error::Callback => PyRuntimeError::new_err("internal error: callback failed"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_cpython() {
        assert_eq!(sqlite3_class_for(ffi::SQLITE_BUSY), "OperationalError");
        assert_eq!(
            sqlite3_class_for(ffi::SQLITE_BUSY_SNAPSHOT),
            "OperationalError"
        );
        assert_eq!(sqlite3_class_for(ffi::SQLITE_READONLY), "OperationalError");
        assert_eq!(sqlite3_class_for(ffi::SQLITE_CANTOPEN), "OperationalError");
        assert_eq!(sqlite3_class_for(ffi::SQLITE_NOTADB), "DatabaseError");
        assert_eq!(sqlite3_class_for(ffi::SQLITE_CORRUPT), "DatabaseError");
        assert_eq!(
            sqlite3_class_for(ffi::SQLITE_CONSTRAINT_PRIMARYKEY),
            "IntegrityError"
        );
        assert_eq!(error_name(ffi::SQLITE_IOERR_READ), "SQLITE_IOERR");
    }
}
