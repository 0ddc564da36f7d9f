//! ISO 3166-2:RU: the codes of Russia's federal subjects, for `residence_region`.
//!
//! Data only. Source: Debian's `iso-codes` 4.15.0, `/usr/share/iso-codes/json/iso_3166-2.json`
//! (the Debian project's machine-readable copy of the ISO 3166 Maintenance Agency's Online Browsing
//! Platform, <https://www.iso.org/obp/ui/#iso:code:3166:RU>), all 83 entries whose code starts with
//! `RU-`. ISO 3166-2:RU lists 83 subdivisions (21 republics, 9 krais, 46 oblasts, 2 autonomous
//! cities, 1 autonomous oblast, 4 autonomous okrugs); codes outside this list are rejected.
//! Names are ISO's romanisation as published there.

/// Every ISO 3166-2:RU code with its name, sorted by code (binary-searchable).
pub const RU_SUBDIVISIONS: &[(&str, &str)] = &[
    ("RU-AD", "Adygeja, Respublika"),
    ("RU-AL", "Altaj, Respublika"),
    ("RU-ALT", "Altajskij kraj"),
    ("RU-AMU", "Amurskaja oblast'"),
    ("RU-ARK", "Arhangel'skaja oblast'"),
    ("RU-AST", "Astrahanskaja oblast'"),
    ("RU-BA", "Bashkortostan, Respublika"),
    ("RU-BEL", "Belgorodskaja oblast'"),
    ("RU-BRY", "Brjanskaja oblast'"),
    ("RU-BU", "Burjatija, Respublika"),
    ("RU-CE", "Chechenskaya Respublika"),
    ("RU-CHE", "Chelyabinskaya oblast'"),
    ("RU-CHU", "Chukotskiy avtonomnyy okrug"),
    ("RU-CU", "Chuvashskaya Respublika"),
    ("RU-DA", "Dagestan, Respublika"),
    ("RU-IN", "Ingushetiya, Respublika"),
    ("RU-IRK", "Irkutskaja oblast'"),
    ("RU-IVA", "Ivanovskaja oblast'"),
    ("RU-KAM", "Kamchatskiy kray"),
    ("RU-KB", "Kabardino-Balkarskaja Respublika"),
    ("RU-KC", "Karachayevo-Cherkesskaya Respublika"),
    ("RU-KDA", "Krasnodarskij kraj"),
    ("RU-KEM", "Kemerovskaja oblast'"),
    ("RU-KGD", "Kaliningradskaja oblast'"),
    ("RU-KGN", "Kurganskaja oblast'"),
    ("RU-KHA", "Habarovskij kraj"),
    ("RU-KHM", "Hanty-Mansijskij avtonomnyj okrug"),
    ("RU-KIR", "Kirovskaja oblast'"),
    ("RU-KK", "Hakasija, Respublika"),
    ("RU-KL", "Kalmykija, Respublika"),
    ("RU-KLU", "Kaluzhskaya oblast'"),
    ("RU-KO", "Komi, Respublika"),
    ("RU-KOS", "Kostromskaja oblast'"),
    ("RU-KR", "Karelija, Respublika"),
    ("RU-KRS", "Kurskaja oblast'"),
    ("RU-KYA", "Krasnojarskij kraj"),
    ("RU-LEN", "Leningradskaja oblast'"),
    ("RU-LIP", "Lipeckaja oblast'"),
    ("RU-MAG", "Magadanskaja oblast'"),
    ("RU-ME", "Marij Èl, Respublika"),
    ("RU-MO", "Mordovija, Respublika"),
    ("RU-MOS", "Moskovskaja oblast'"),
    ("RU-MOW", "Moskva"),
    ("RU-MUR", "Murmanskaja oblast'"),
    ("RU-NEN", "Neneckij avtonomnyj okrug"),
    ("RU-NGR", "Novgorodskaja oblast'"),
    ("RU-NIZ", "Nizhegorodskaya oblast'"),
    ("RU-NVS", "Novosibirskaja oblast'"),
    ("RU-OMS", "Omskaja oblast'"),
    ("RU-ORE", "Orenburgskaja oblast'"),
    ("RU-ORL", "Orlovskaja oblast'"),
    ("RU-PER", "Permskij kraj"),
    ("RU-PNZ", "Penzenskaja oblast'"),
    ("RU-PRI", "Primorskij kraj"),
    ("RU-PSK", "Pskovskaja oblast'"),
    ("RU-ROS", "Rostovskaja oblast'"),
    ("RU-RYA", "Rjazanskaja oblast'"),
    ("RU-SA", "Saha, Respublika"),
    ("RU-SAK", "Sahalinskaja oblast'"),
    ("RU-SAM", "Samarskaja oblast'"),
    ("RU-SAR", "Saratovskaja oblast'"),
    ("RU-SE", "Severnaja Osetija, Respublika"),
    ("RU-SMO", "Smolenskaja oblast'"),
    ("RU-SPE", "Sankt-Peterburg"),
    ("RU-STA", "Stavropol'skij kraj"),
    ("RU-SVE", "Sverdlovskaja oblast'"),
    ("RU-TA", "Tatarstan, Respublika"),
    ("RU-TAM", "Tambovskaja oblast'"),
    ("RU-TOM", "Tomskaja oblast'"),
    ("RU-TUL", "Tul'skaja oblast'"),
    ("RU-TVE", "Tverskaja oblast'"),
    ("RU-TY", "Tyva, Respublika"),
    ("RU-TYU", "Tjumenskaja oblast'"),
    ("RU-UD", "Udmurtskaja Respublika"),
    ("RU-ULY", "Ul'janovskaja oblast'"),
    ("RU-VGG", "Volgogradskaja oblast'"),
    ("RU-VLA", "Vladimirskaja oblast'"),
    ("RU-VLG", "Vologodskaja oblast'"),
    ("RU-VOR", "Voronezhskaya oblast'"),
    ("RU-YAN", "Jamalo-Neneckij avtonomnyj okrug"),
    ("RU-YAR", "Jaroslavskaja oblast'"),
    ("RU-YEV", "Evrejskaja avtonomnaja oblast'"),
    ("RU-ZAB", "Zabajkal'skij kraj"),
];

/// Whether `code` is an ISO 3166-2:RU subdivision code (exact, upper case: `RU-MOW`).
pub fn is_known(code: &str) -> bool {
    RU_SUBDIVISIONS
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .is_ok()
}

/// The ISO name of a subdivision code, when known.
pub fn name(code: &str) -> Option<&'static str> {
    RU_SUBDIVISIONS
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| RU_SUBDIVISIONS[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_complete_and_finds_moscow() {
        assert_eq!(RU_SUBDIVISIONS.len(), 83);
        assert!(RU_SUBDIVISIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(is_known("RU-MOW"));
        assert!(is_known("RU-MOS"));
        assert_eq!(name("RU-MOW"), Some("Moskva"));
        assert!(!is_known("ru-mow"));
        assert!(!is_known("RU-XXX"));
        assert!(!is_known("RU-"));
    }
}
