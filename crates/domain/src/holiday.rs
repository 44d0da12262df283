//! Japanese public holidays (国民の祝日), computed from the Act on National Holidays as amended
//! up to the 2021 Olympic moves: fixed days, Happy Monday days, the equinoxes, substitute
//! holidays (振替休日) and citizens' holidays (国民の休日). Valid for 2000–2099; the equinox days
//! follow the usual astronomical approximation, which matches the Cabinet's announcements for
//! this century.

use time::{Date, Month, Weekday};

/// The name of the holiday on `date`, if it is one.
pub fn holiday_name(date: Date) -> Option<&'static str> {
    if let Some(name) = base_holiday(date) {
        return Some(name);
    }
    // 振替休日: when a holiday falls on a Sunday, the next day that is not a holiday.
    let mut d = date;
    while let Some(prev) = d.previous_day() {
        if base_holiday(prev).is_none() {
            break;
        }
        if prev.weekday() == Weekday::Sunday {
            return Some("振替休日");
        }
        d = prev;
    }
    // 国民の休日: a day between two holidays.
    if let (Some(prev), Some(next)) = (date.previous_day(), date.next_day())
        && base_holiday(prev).is_some()
        && base_holiday(next).is_some()
        && date.weekday() != Weekday::Sunday
    {
        return Some("国民の休日");
    }
    None
}

/// Whether `date` is a Japanese public holiday (substitute and citizens' holidays included).
pub fn is_holiday(date: Date) -> bool {
    holiday_name(date).is_some()
}

/// The holidays named in the Act, without substitute or citizens' holidays.
fn base_holiday(date: Date) -> Option<&'static str> {
    let (y, m, d) = (date.year(), date.month(), date.day());
    let nth_monday = |n: u8| date.weekday() == Weekday::Monday && (d - 1) / 7 + 1 == n;
    match (m, d) {
        (Month::January, 1) => return Some("元日"),
        (Month::February, 11) => return Some("建国記念の日"),
        (Month::February, 23) if y >= 2020 => return Some("天皇誕生日"),
        (Month::December, 23) if (1989..=2018).contains(&y) => return Some("天皇誕生日"),
        (Month::April, 29) => return Some(if y >= 2007 { "昭和の日" } else { "みどりの日" }),
        (Month::May, 3) => return Some("憲法記念日"),
        (Month::May, 4) if y >= 2007 => return Some("みどりの日"),
        (Month::May, 5) => return Some("こどもの日"),
        (Month::November, 3) => return Some("文化の日"),
        (Month::November, 23) => return Some("勤労感謝の日"),
        (Month::May, 1) if y == 2019 => return Some("天皇の即位の日"),
        (Month::October, 22) if y == 2019 => return Some("即位礼正殿の儀の行われる日"),
        _ => {}
    }
    if m == Month::January && nth_monday(2) {
        return Some("成人の日");
    }
    if m == Month::March && d == equinox_day(y, 20.8431) {
        return Some("春分の日");
    }
    if m == Month::September && d == equinox_day(y, 23.2488) {
        return Some("秋分の日");
    }
    if m == Month::September && nth_monday(3) {
        return Some("敬老の日");
    }
    // The Olympic years moved three holidays by special law.
    match y {
        2020 => match (m, d) {
            (Month::July, 23) => return Some("海の日"),
            (Month::July, 24) => return Some("スポーツの日"),
            (Month::August, 10) => return Some("山の日"),
            _ => return None,
        },
        2021 => match (m, d) {
            (Month::July, 22) => return Some("海の日"),
            (Month::July, 23) => return Some("スポーツの日"),
            (Month::August, 8) => return Some("山の日"),
            _ => return None,
        },
        _ => {}
    }
    if m == Month::July && nth_monday(3) {
        return Some("海の日");
    }
    if m == Month::August && d == 11 && y >= 2016 {
        return Some("山の日");
    }
    if m == Month::October && nth_monday(2) {
        return Some(if y >= 2020 { "スポーツの日" } else { "体育の日" });
    }
    None
}

/// The day of March (vernal, base 20.8431) or September (autumnal, base 23.2488) equinox.
fn equinox_day(year: i32, base: f64) -> u8 {
    let n = f64::from(year - 1980);
    let day = (base + 0.242194 * n - (n / 4.0).floor()).floor();
    // Always between 19 and 24 for 1980–2099.
    day as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
    }

    fn holidays_of(year: i32) -> Vec<(u8, u8)> {
        let mut out = Vec::new();
        let mut d = date(year, 1, 1);
        while d.year() == year {
            if is_holiday(d) {
                out.push((d.month() as u8, d.day()));
            }
            d = d.next_day().unwrap();
        }
        out
    }

    #[test]
    fn the_holidays_of_2026_match_the_cabinet_office_list() {
        assert_eq!(
            holidays_of(2026),
            vec![
                (1, 1),
                (1, 12),
                (2, 11),
                (2, 23),
                (3, 20),
                (4, 29),
                (5, 3),
                (5, 4),
                (5, 5),
                (5, 6),
                (7, 20),
                (8, 11),
                (9, 21),
                (9, 22),
                (9, 23),
                (10, 12),
                (11, 3),
                (11, 23)
            ]
        );
    }

    #[test]
    fn the_holidays_of_2025_match_the_cabinet_office_list() {
        assert_eq!(
            holidays_of(2025),
            vec![
                (1, 1),
                (1, 13),
                (2, 11),
                (2, 23),
                (2, 24),
                (3, 20),
                (4, 29),
                (5, 3),
                (5, 4),
                (5, 5),
                (5, 6),
                (7, 21),
                (8, 11),
                (9, 15),
                (9, 23),
                (10, 13),
                (11, 3),
                (11, 23),
                (11, 24)
            ]
        );
    }

    #[test]
    fn the_holidays_of_2027_match_the_cabinet_office_list() {
        assert_eq!(
            holidays_of(2027),
            vec![
                (1, 1),
                (1, 11),
                (2, 11),
                (2, 23),
                (3, 21),
                (3, 22),
                (4, 29),
                (5, 3),
                (5, 4),
                (5, 5),
                (7, 19),
                (8, 11),
                (9, 20),
                (9, 23),
                (10, 11),
                (11, 3),
                (11, 23)
            ]
        );
    }

    #[test]
    fn substitute_and_citizens_holidays_are_named() {
        assert_eq!(holiday_name(date(2026, 5, 6)), Some("振替休日"));
        assert_eq!(holiday_name(date(2026, 9, 22)), Some("国民の休日"));
        assert_eq!(holiday_name(date(2019, 4, 30)), Some("国民の休日"));
        assert_eq!(holiday_name(date(2019, 5, 1)), Some("天皇の即位の日"));
    }

    #[test]
    fn the_olympic_years_moved_three_holidays() {
        assert!(is_holiday(date(2021, 7, 23)));
        assert!(!is_holiday(date(2021, 10, 11)));
        assert_eq!(holiday_name(date(2021, 8, 9)), Some("振替休日"));
    }

    #[test]
    fn ordinary_days_are_not_holidays() {
        assert!(!is_holiday(date(2026, 11, 24)));
        assert!(!is_holiday(date(2026, 12, 23)));
    }
}
