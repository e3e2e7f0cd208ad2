//! Charts: the SVG is well-formed and names what it shows; the PNG decodes
//! at the promised size and is drawn in the palette.

use super::common;

use crate::export::chart;
use crate::export::model::{Chart, ChartKind};
use resvg::tiny_skia::Pixmap;
use resvg::usvg::roxmltree;

fn all_charts() -> Vec<Chart> {
    vec![
        common::volume_chart(30),
        common::backlog_chart(90),
        common::priority_chart(),
        common::state_chart(),
        common::sla_chart(),
    ]
}

fn scratch_series(name: &str, n: usize) -> crate::export::model::Series {
    crate::export::model::Series {
        name: name.to_owned(),
        values: (0..n).map(|i| i as f64).collect(),
    }
}

/// The text of every `<text>` element, trimmed.
fn texts<'a>(doc: &'a roxmltree::Document) -> Vec<&'a str> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect()
}

/// How many pixels are (nearly) exactly this colour.
fn pixels_of(pixmap: &Pixmap, rgb: (u8, u8, u8)) -> usize {
    pixmap
        .pixels()
        .iter()
        .filter(|p| {
            let c = p.demultiply();
            c.red().abs_diff(rgb.0) <= 2
                && c.green().abs_diff(rgb.1) <= 2
                && c.blue().abs_diff(rgb.2) <= 2
        })
        .count()
}

#[test]
fn svg_is_xml_with_title_and_series_names() {
    for c in all_charts() {
        let svg = chart::svg(&c).expect("renders");
        let doc = roxmltree::Document::parse(&svg).expect("the SVG parses as XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts = texts(&doc);
        assert!(
            texts.contains(&c.title.as_str()),
            "{:?}: title missing",
            c.kind
        );
        let names: Vec<&str> = if c.kind == ChartKind::Donut {
            c.categories.iter().map(|s| s.as_str()).collect()
        } else {
            c.series.iter().map(|s| s.name.as_str()).collect()
        };
        for name in names {
            assert!(
                texts
                    .iter()
                    .any(|t| *t == name || name.starts_with(t.trim_end_matches('…'))),
                "{:?}: legend entry {name:?} missing",
                c.kind
            );
        }
    }
}

#[test]
fn donut_legend_shows_shares() {
    let svg = chart::svg(&common::state_chart()).expect("renders");
    let doc = roxmltree::Document::parse(&svg).expect("the SVG parses as XML");
    let texts = texts(&doc);
    assert!(texts.contains(&"35.0 %"), "42 of 120 is 35.0 %");
    assert!(texts.contains(&"120"), "the total in the hole");
}

#[test]
fn png_decodes_at_slack_preview_size_in_palette_colours() {
    for c in all_charts() {
        let png = chart::png(&c).expect("renders");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
        let pixmap = Pixmap::decode_png(&png).expect("decodes");
        assert_eq!((pixmap.width(), pixmap.height()), (1200, 675));
        let blue = pixels_of(&pixmap, (0x00, 0x72, 0xB2));
        let orange = pixels_of(&pixmap, (0xE6, 0x9F, 0x00));
        assert!(
            blue > 200,
            "{:?}: first palette colour drawn ({blue} px)",
            c.kind
        );
        if c.series.len() > 1 || c.kind == ChartKind::Donut {
            assert!(
                orange > 200,
                "{:?}: second palette colour drawn ({orange} px)",
                c.kind
            );
        }
    }
}

#[test]
fn png_text_uses_the_embedded_font() {
    // Title text is dark ink; with no usable font it would not be drawn at all.
    let pixmap =
        Pixmap::decode_png(&chart::png(&common::sla_chart()).expect("renders")).expect("decodes");
    let ink = pixels_of(&pixmap, (0x1F, 0x29, 0x33));
    assert!(ink > 300, "title glyphs drawn ({ink} px)");
}

#[test]
fn empty_charts_say_no_data() {
    let mut no_categories = common::volume_chart(10);
    no_categories.categories.clear();
    let mut zeros = common::priority_chart();
    for s in &mut zeros.series {
        s.values.iter_mut().for_each(|v| *v = 0.0);
    }
    let mut no_series = common::state_chart();
    no_series.series.clear();
    for c in [no_categories, zeros, no_series] {
        let svg = chart::svg(&c).expect("an empty chart still renders");
        assert!(svg.contains("No data"), "{:?}", c.kind);
        assert!(svg.contains(&c.title));
        let pixmap = Pixmap::decode_png(&chart::png(&c).expect("renders")).expect("decodes");
        assert_eq!(pixmap.width(), 1200);
    }
}

#[test]
fn short_series_and_odd_values_do_not_fail() {
    let mut c = common::volume_chart(10);
    c.series[0].values.truncate(3);
    c.series[1].values[2] = f64::NAN;
    c.series[1].values[3] = -5.0;
    chart::png(&c).expect("renders with the gaps counted as 0");
    let mut many = common::state_chart();
    many.categories = (0..12).map(|i| format!("State {i}")).collect();
    many.series[0].values = (0..12).map(|i| i as f64 + 1.0).collect();
    let svg = chart::svg(&many).expect("renders");
    assert!(
        svg.contains("Other"),
        "slices past the palette are summed into Other"
    );

    let mut crowded = common::volume_chart(10);
    crowded.title = "A very long chart title ".repeat(6);
    crowded.series = (0..12)
        .map(|i| scratch_series(&format!("Team with a rather long name {i}"), 10))
        .collect();
    let svg = chart::svg(&crowded).expect("a crowded legend still renders");
    assert!(
        svg.contains('…'),
        "long title and legend are cut, not spilled"
    );
}
