//! The domain layer: types that validate on construction and the product's rules as pure
//! functions. No I/O happens here.

pub mod audit;
pub mod clock;
pub mod directory;
pub mod holiday;
pub mod ids;
pub mod org;
pub mod person;
pub mod schedule;
pub mod sharing;
pub mod text;
pub mod throttle;
pub mod validation;

pub use clock::{Clock, FixedClock, SystemClock, Timestamp};
pub use ids::{OrganisationId, UserId};
pub use validation::{FieldError, Invalid};
