//! Template parsing and layout checks.

use super::*;

#[test]
fn builtin_template_is_valid() {
    let t = Template::parse(DEFAULT_TEMPLATE, "default.toml").unwrap();
    assert_eq!(t.page_px(), (1011, 638));
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let text = DEFAULT_TEMPLATE.replace("[mrz]\n", "[mrz]\ncolour_typo = 1\n");
    let err = Template::parse(&text, "my.toml").unwrap_err();
    let TemplateError::Syntax { file, message } = &err else {
        panic!("expected a syntax error, got {err:?}");
    };
    assert_eq!(file, "my.toml");
    assert!(message.contains("colour_typo"), "{message}");
    assert!(message.contains("line"), "{message}");
}

#[test]
fn mrz_left_margin_outside_doc9303_is_refused() {
    let text = DEFAULT_TEMPLATE.replace("left_mm = 5.0", "left_mm = 7.5");
    let err = Template::parse(&text, "t").unwrap_err();
    assert_eq!(
        err,
        TemplateError::Layout {
            file: "t".into(),
            element: "mrz.left_mm".into(),
            problem: "is 7.5 mm; Doc 9303 Part 5 requires 4.0 to 6.0 mm".into()
        }
    );
}

#[test]
fn back_element_in_the_mrz_zone_is_refused() {
    let mut t = Template::builtin();
    t.back.fields[0].box_mm[1] = 40.0;
    let (el, problem) = t.check().unwrap_err();
    assert!(el.starts_with("back.fields[0]"), "{el}");
    assert!(problem.contains("MRZ zone"), "{problem}");
}

#[test]
fn element_over_the_chip_is_refused() {
    let mut t = Template::builtin();
    let k = t.front.keep_out.clone().unwrap().box_mm;
    t.front.fields[0].box_mm = [k[0] + 1.0, k[1] + 1.0, 5.0, 5.0];
    let (_, problem) = t.check().unwrap_err();
    assert!(problem.contains("keep-out"), "{problem}");
}

#[test]
fn missing_required_field_is_refused() {
    let mut t = Template::builtin();
    t.front.fields.retain(|f| f.field != Field::Sex);
    t.back.fields.retain(|f| f.field != Field::Sex);
    assert_eq!(
        t.check().unwrap_err(),
        (
            "fields".to_string(),
            "sex is placed on neither face; the card must show it".to_string()
        )
    );
}

#[test]
fn portrait_outside_doc9303_sizes_is_refused() {
    let mut t = Template::builtin();
    t.front.photo.as_mut().unwrap().box_mm = [57.1, 10.0, 20.0, 25.0];
    assert_eq!(
        t.check().unwrap_err(),
        (
            "front.photo".to_string(),
            "is 20 x 25 mm; Doc 9303 Part 5 wants a portrait 26-35 mm wide and 32-45 mm high"
                .to_string()
        )
    );
}

#[test]
fn colours_parse() {
    assert_eq!(parse_color("#1F4E8c"), Some(Color([0x1f, 0x4e, 0x8c])));
    assert_eq!(parse_color("1F4E8C"), None);
    assert_eq!(parse_color("#1F4E8"), None);
    assert_eq!(parse_color("#ЖЖЖ"), None);
}

mod properties {
    use super::super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text parses or fails with a typed error, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = Template::parse(&text, "fuzz.toml");
        }

        /// Any number put in place of a number of the default template is accepted or refused
        /// with a layout error naming an element; an accepted template keeps every box on the card.
        #[test]
        fn changed_numbers_are_checked(index in 0usize..200, value in -100f32..200.0) {
            let mut seen = 0;
            let mut out = String::new();
            for tok in DEFAULT_TEMPLATE.split_inclusive([',', ']', '\n']) {
                let trimmed = tok.trim_end_matches([',', ']', '\n']);
                let num_start = trimmed.rfind(['[', ' ']).map_or(0, |i| i + 1);
                let num = &trimmed[num_start..];
                if num.contains('.') && num.parse::<f32>().is_ok() && !trimmed.contains('#') {
                    if seen == index {
                        out.push_str(&trimmed[..num_start]);
                        out.push_str(&format!("{value:.2}"));
                        out.push_str(&tok[trimmed.len()..]);
                        seen += 1;
                        continue;
                    }
                    seen += 1;
                }
                out.push_str(tok);
            }
            match Template::parse(&out, "mutated.toml") {
                Ok(t) => {
                    let (w, h) = t.page_px();
                    for side in [&t.front, &t.back] {
                        for f in &side.fields {
                            let r = t.px(f.box_mm);
                            prop_assert!(r.x + r.w <= w + 1 && r.y + r.h <= h + 1);
                        }
                    }
                }
                Err(TemplateError::Layout { element, .. }) => prop_assert!(!element.is_empty()),
                Err(TemplateError::Syntax { .. }) => {}
            }
        }
    }
}
