//! Configuration: the settings file with environment overrides, and the organisation directory.

mod directory;
mod settings;

pub use directory::{
    Directory, MunicipalUnit, MunicipalUnitKind, Municipality, Region, RegionUnit, RegionUnitKind,
};
pub use settings::{
    AuditSettings, AuthSettings, ConfigError, ConsoleSettings, ConsoleSignIn, DEFAULT_CONFIG_PATH,
    DatabaseSettings, DeliverySettings, ExternalIssuer, LogFormat, LogSettings, RetentionSettings,
    RivSettings, ServerSettings, Settings, StatisticsSettings, TlsSettings, TraceSettings,
};
