pub mod bench_reports;
pub mod demo_history;
pub mod report;
