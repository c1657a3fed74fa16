//! Enums whose variants each have one name, written once: serde reads and
//! writes it, schemars documents it, and `as_str`, `Display` and `from_name`
//! return and read it. No enum maps its names twice.

/// Declares such an enum. The enum's own attributes must derive
/// `Serialize` and `Deserialize` (each variant gets `#[serde(rename)]`).
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// The variant's name (as serialized).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }

            /// The variant of that name.
            pub fn from_name(s: &str) -> Option<$name> {
                match s {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::api::NoticeKind;
    use crate::{Gate, RunMode, RunState, Verdict, Zone};
    use serde::{de::DeserializeOwned, Serialize};

    fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Copy>(
        all: &[T],
        name: impl Fn(T) -> &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) {
        for &v in all {
            assert_eq!(serde_json::to_value(v).unwrap(), name(v), "{v:?}");
            assert_eq!(serde_json::from_value::<T>(name(v).into()).unwrap(), v);
            assert_eq!(parse(name(v)), Some(v));
        }
        assert_eq!(parse("no such name"), None);
    }

    #[test]
    fn each_name_is_the_serialized_one_and_reads_back() {
        round_trips(&RunState::ALL, RunState::as_str, RunState::from_name);
        round_trips(&Gate::ALL, Gate::as_str, Gate::from_name);
        round_trips(
            &[RunMode::Cold, RunMode::Quick],
            RunMode::as_str,
            RunMode::from_name,
        );
        use Verdict::*;
        round_trips(
            &[Passed, Transient, Failed, Incomplete],
            Verdict::as_str,
            Verdict::from_name,
        );
        use Zone::*;
        round_trips(
            &[Unusable, P60, P80, P90, P95, P99],
            Zone::as_str,
            Zone::from_name,
        );
        use NoticeKind::*;
        round_trips(
            &[RunFailed, RunTransient, RunPassed, RunHeld, PduError],
            NoticeKind::as_str,
            NoticeKind::from_name,
        );
        use crate::report::{PowerAction, PowerState};
        round_trips(
            &[
                PowerAction::SoftOff,
                PowerAction::Off,
                PowerAction::On,
                PowerAction::Status,
            ],
            PowerAction::as_str,
            PowerAction::from_name,
        );
        round_trips(
            &[PowerState::On, PowerState::Off],
            PowerState::as_str,
            PowerState::from_name,
        );
    }
}
