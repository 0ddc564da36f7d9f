//! Profile parsing: the shipped files, overlays over the generic defaults, error positions, ATR
//! selection.

use super::*;
use proptest::prelude::*;

#[test]
fn shipped_profiles_parse_with_their_values() {
    let g = Profile::generic();
    assert_eq!(g.name, "generic-iso7816");
    assert_eq!(g.limits(), ApduLimits::SHORT);
    assert!(!g.security.active_authentication);
    assert_eq!(g.security.lock, LockMethod::None);
    assert!(g.filesystem.create_app_df);
    assert_eq!(g.filesystem.df_fid, 0x0200);

    let s = Profile::builtin("ecard-sim").unwrap();
    assert_eq!(s.name, "ecard-sim");
    assert!(s.apdu.extended_length);
    assert_eq!(s.apdu.max_command_data, 4096);
    assert!(s.security.active_authentication);
    assert_eq!(s.security.lock, LockMethod::ActivateDf);
    // Not overridden: taken from the generic profile.
    assert_eq!(s.filesystem.df_fid, 0x0200);
    assert_eq!(s.read.large_offsets, LargeOffsets::OddIns);
    assert_eq!(s.filesystem.file_slack, 64);
}

#[test]
fn overlay_overrides_only_what_it_names() {
    let p = Profile::from_toml(
        "name = \"tiny\"\n[apdu]\nmax_command_data = 128\n[sim]\neeprom_page_size = 32\n",
        "tiny.toml",
    )
    .unwrap();
    assert_eq!(p.name, "tiny");
    assert_eq!(p.apdu.max_command_data, 128);
    assert_eq!(p.apdu.max_response_data, 256);
    assert_eq!(p.sim.eeprom_page_size, 32);
    assert_eq!(p.description, Profile::generic().description);
    assert_eq!(p.atr, Profile::generic().atr);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = "name = \"x\"\n\n[apdu]\nextended_length = true\nmax_comand_data = 4096\n";
    let err = Profile::from_toml(text, "myos.toml").unwrap_err();
    match &err {
        ProfileError::Parse {
            source_name,
            line,
            key,
            ..
        } => {
            assert_eq!(source_name, "myos.toml");
            assert_eq!(*line, 5);
            assert_eq!(key.as_deref(), Some("max_comand_data"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("myos.toml:5:1: key `max_comand_data`: unknown field `max_comand_data`"),
        "{text}"
    );
}

#[test]
fn wrong_type_and_bad_enum_name_the_key() {
    let err =
        Profile::from_toml("name = \"x\"\n[security]\nlock = \"glue\"\n", "a.toml").unwrap_err();
    assert!(
        matches!(&err, ProfileError::Parse { line: 3, key: Some(k), .. } if k == "lock"),
        "{err:?}"
    );
    let err =
        Profile::from_toml("name = \"x\"\n[apdu]\nextended_length = 1\n", "b.toml").unwrap_err();
    assert!(
        matches!(&err, ProfileError::Parse { line: 3, key: Some(k), .. } if k == "extended_length"),
        "{err:?}"
    );
}

#[test]
fn bad_atr_hex_and_mask_are_refused_with_position() {
    let err =
        Profile::from_toml("name = \"x\"\n[[atr]]\npattern = \"3B 8G\"\n", "c.toml").unwrap_err();
    assert!(
        matches!(&err, ProfileError::Parse { source_name, .. } if source_name == "c.toml"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("\"8G\" in \"3B 8G\" is not a hex byte"),
        "{err}"
    );
    let err = Profile::from_toml(
        "name = \"x\"\n[[atr]]\npattern = \"3B 8F\"\nmask = \"FF\"\n",
        "d.toml",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("ATR mask has 1 bytes but the pattern has 2"),
        "{err}"
    );
}

#[test]
fn contradictions_are_invalid() {
    let err = Profile::from_toml("name = \"x\"\n[apdu]\nmax_command_data = 1000\n", "e.toml")
        .unwrap_err();
    assert_eq!(
        err,
        ProfileError::Invalid {
            source_name: "e.toml".into(),
            key: "apdu.max_command_data".into(),
            reason: "1000 is outside 1..=255".into(),
        }
    );
    let err = Profile::from_toml("description = \"no name\"\n", "f.toml").unwrap_err();
    assert_eq!(
        err,
        ProfileError::Missing {
            source_name: "f.toml".into(),
            key: "name".into()
        }
    );
    assert_eq!(
        Profile::builtin("nope").unwrap_err(),
        ProfileError::UnknownBuiltin {
            name: "nope".into()
        }
    );
}

#[test]
fn select_by_atr_prefers_specific_profiles() {
    let all = Profile::builtins().unwrap();
    let sim_atr = hex_bytes("3B 8F 01 80 59 45 43 41 52 44 2D 53 49 4D 73 00 00 C0 CF");
    let vicc_atr = hex_bytes("3B 95 13 81 01 80 73 FF 01 00 0B");
    assert_eq!(select_profile(&all, &sim_atr).unwrap().name, "ecard-sim");
    assert_eq!(
        select_profile(&all, &vicc_atr).unwrap().name,
        "generic-iso7816"
    );
    assert!(select_profile(&all, &[0x3B, 0x00]).is_none());
}

#[test]
fn atr_mask_ignores_masked_bits() {
    let p = Profile::from_toml(
        "name = \"m\"\n[[atr]]\npattern = \"3B:8F:00\"\nmask = \"FF:FF:00\"\n",
        "m.toml",
    )
    .unwrap();
    assert!(p.matches_atr(&[0x3B, 0x8F, 0x42]));
    assert!(!p.matches_atr(&[0x3B, 0x8E, 0x42]));
    assert!(!p.matches_atr(&[0x3B, 0x8F]));
}

fn hex_bytes(s: &str) -> Vec<u8> {
    s.split(' ')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Profile::from_toml(&text, "fuzz.toml");
    }

    #[test]
    fn parse_errors_point_inside_the_text(
        key in "[a-z_]{1,12}",
        value in "[0-9a-z\"]{1,6}",
        section in prop::sample::select(vec!["apdu", "filesystem", "security", "read", "sim"]),
    ) {
        let text = format!("name = \"p\"\n[{section}]\n{key} = {value}\n");
        if let Err(ProfileError::Parse { line, column, .. }) = Profile::from_toml(&text, "p.toml") {
            prop_assert!((1..=4).contains(&line));
            prop_assert!(column >= 1);
        }
    }
}
