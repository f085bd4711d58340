//! Lazy views of the messages that rules and later crates inspect. A view wraps the body bytes
//! and decodes a field only when asked; a malformed field is an error value.

mod authentication;
mod backend_key_data;
mod bind;
mod command_complete;
mod copy_data;
mod data_row;
mod error_fields;
mod execute;
mod notification;
mod parameter_status;
mod parse;
mod query;
mod ready_for_query;
mod row_description;
mod startup;
mod target;

pub use authentication::Authentication;
pub use backend_key_data::BackendKeyData;
pub use bind::Bind;
pub use command_complete::CommandComplete;
pub use copy_data::CopyData;
pub use data_row::{DataRow, Values};
pub use error_fields::ErrorFields;
pub use execute::Execute;
pub use notification::NotificationResponse;
pub use parameter_status::ParameterStatus;
pub use parse::Parse;
pub use query::Query;
pub use ready_for_query::{ReadyForQuery, TransactionStatus};
pub use row_description::{Field, Fields, RowDescription};
pub use startup::{CancelRequest, Parameter, StartupMessage};
pub use target::{Target, TargetKind};
