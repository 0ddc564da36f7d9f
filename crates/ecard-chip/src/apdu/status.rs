//! Status words (ISO/IEC 7816-4 section 5.6) as a typed enum with the standard meanings.
//!
//! [`StatusWord::from_u16`] and [`StatusWord::to_u16`] are exact inverses: a value with no named
//! variant stays in [`StatusWord::Other`], so no card answer is ever lost or changed.

macro_rules! status_words {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $text:literal; )*) => {
        /// SW1-SW2 of a response.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum StatusWord {
            $( $(#[$doc])* $name, )*
            /// 61xx: xx more response bytes are available through GET RESPONSE (00: 256 or more).
            BytesAvailable(u8),
            /// 6Cxx: wrong Le; xx is the exact length available (00: 256).
            WrongLe(u8),
            /// 63Cx: verification failed, x tries left (or the counter value).
            Counter(u8),
            /// Any status word without a name here.
            Other(u16),
        }

        impl StatusWord {
            /// The status word for SW1-SW2.
            pub fn from_u16(sw: u16) -> StatusWord {
                match sw {
                    $( $code => StatusWord::$name, )*
                    0x6100..=0x61FF => StatusWord::BytesAvailable((sw & 0xFF) as u8),
                    0x6C00..=0x6CFF => StatusWord::WrongLe((sw & 0xFF) as u8),
                    0x63C0..=0x63CF => StatusWord::Counter((sw & 0x0F) as u8),
                    other => StatusWord::Other(other),
                }
            }

            /// SW1-SW2 as a number.
            pub fn to_u16(self) -> u16 {
                match self {
                    $( StatusWord::$name => $code, )*
                    StatusWord::BytesAvailable(n) => 0x6100 | u16::from(n),
                    StatusWord::WrongLe(n) => 0x6C00 | u16::from(n),
                    StatusWord::Counter(n) => 0x63C0 | u16::from(n & 0x0F),
                    StatusWord::Other(sw) => sw,
                }
            }

            /// What ISO/IEC 7816-4 says the status word means.
            pub fn meaning(self) -> &'static str {
                match self {
                    $( StatusWord::$name => $text, )*
                    StatusWord::BytesAvailable(_) => "more response bytes available",
                    StatusWord::WrongLe(_) => "wrong Le field",
                    StatusWord::Counter(_) => "verification failed, counter value given",
                    StatusWord::Other(sw) => match sw >> 8 {
                        0x62 | 0x63 => "warning, non-volatile memory unchanged or changed",
                        0x64 | 0x65 => "execution error",
                        0x68 => "functions in CLA not supported",
                        0x69 => "command not allowed",
                        0x6A => "wrong parameters P1-P2",
                        _ => "unknown status word",
                    },
                }
            }
        }
    };
}

status_words! {
    /// 9000: normal processing.
    Ok = 0x9000, "no further qualification";
    /// 6281: part of the returned data may be corrupted.
    CorruptedData = 0x6281, "part of returned data may be corrupted";
    /// 6282: end of file reached before reading Ne bytes.
    EndOfFile = 0x6282, "end of file or record reached before reading Ne bytes";
    /// 6581: memory failure.
    MemoryFailure = 0x6581, "memory failure";
    /// 6700: wrong length.
    WrongLength = 0x6700, "wrong length";
    /// 6882: secure messaging not supported.
    SecureMessagingNotSupported = 0x6882, "secure messaging not supported";
    /// 6883: last command of the chain expected.
    LastCommandOfChainExpected = 0x6883, "last command of the chain expected";
    /// 6884: command chaining not supported.
    ChainingNotSupported = 0x6884, "command chaining not supported";
    /// 6982: security status not satisfied.
    SecurityStatusNotSatisfied = 0x6982, "security status not satisfied";
    /// 6983: authentication method blocked.
    AuthenticationBlocked = 0x6983, "authentication method blocked";
    /// 6984: reference data not usable.
    ReferenceDataNotUsable = 0x6984, "reference data not usable";
    /// 6985: conditions of use not satisfied.
    ConditionsNotSatisfied = 0x6985, "conditions of use not satisfied";
    /// 6986: command not allowed (no current EF).
    NoCurrentEf = 0x6986, "command not allowed (no current EF)";
    /// 6A80: incorrect parameters in the command data field.
    IncorrectData = 0x6A80, "incorrect parameters in the command data field";
    /// 6A81: function not supported.
    FunctionNotSupported = 0x6A81, "function not supported";
    /// 6A82: file or application not found.
    FileNotFound = 0x6A82, "file or application not found";
    /// 6A84: not enough memory space in the file.
    NotEnoughMemory = 0x6A84, "not enough memory space in the file";
    /// 6A86: incorrect parameters P1-P2.
    IncorrectP1P2 = 0x6A86, "incorrect parameters P1-P2";
    /// 6A88: referenced data or reference data not found.
    ReferenceNotFound = 0x6A88, "referenced data or reference data not found";
    /// 6A89: file already exists.
    FileExists = 0x6A89, "file already exists";
    /// 6A8A: DF name already exists.
    DfNameExists = 0x6A8A, "DF name already exists";
    /// 6B00: wrong parameters P1-P2 (offset outside the EF).
    WrongP1P2 = 0x6B00, "wrong parameters P1-P2";
    /// 6D00: instruction code not supported or invalid.
    InsNotSupported = 0x6D00, "instruction code not supported or invalid";
    /// 6E00: class not supported.
    ClaNotSupported = 0x6E00, "class not supported";
    /// 6F00: no precise diagnosis.
    NoPreciseDiagnosis = 0x6F00, "no precise diagnosis";
}

impl StatusWord {
    /// 9000.
    pub fn is_ok(self) -> bool {
        self == StatusWord::Ok
    }

    /// 9000, or a warning (62xx/63xx) that still delivered data.
    pub fn is_success_or_warning(self) -> bool {
        matches!(self.to_u16() >> 8, 0x90 | 0x62 | 0x63)
    }
}

impl std::fmt::Display for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X} ({})", self.to_u16(), self.meaning())
    }
}
