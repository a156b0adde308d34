//! The raw ceiling the translation benchmarks measure against: quick-xml reading and writing
//! the same bytes with no mapping at all.

use quick_xml::events::Event;
use quick_xml::reader::NsReader;
use quick_xml::writer::Writer;

/// Reads every event of `bytes` with namespaces resolved, building nothing.
pub fn parse(bytes: &[u8]) -> usize {
    let mut reader = NsReader::from_reader(bytes);
    let mut buffer = Vec::new();
    let mut events = 0;
    loop {
        match reader.read_resolved_event_into(&mut buffer) {
            Ok((_, Event::Eof)) | Err(_) => break,
            Ok(_) => events += 1,
        }
        buffer.clear();
    }
    events
}

/// Every event of `xml`, owned, for writing again.
pub fn events(xml: &[u8]) -> Vec<Event<'static>> {
    let mut reader = NsReader::from_reader(xml);
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    loop {
        match reader.read_event_into(&mut buffer) {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => events.push(event.into_owned()),
        }
        buffer.clear();
    }
    events
}

/// Writes `events` with quick-xml's writer.
pub fn write(events: &[Event<'static>]) -> Vec<u8> {
    let mut writer = Writer::new(Vec::with_capacity(2048));
    for event in events {
        writer.write_event(event.borrow()).unwrap();
    }
    writer.into_inner()
}
