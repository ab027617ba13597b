//! Engineering units as OPC UA `EUInformation` (Part 8, 5.6.3): the UNECE
//! Recommendation 20 code for the units a gateway meets most.

use opcua::types::{EUInformation, LocalizedText};

/// UNECE Recommendation 20 common codes for the units a gateway meets most.
const UNECE: [(&str, &str, &str); 22] = [
    ("V", "VLT", "volt"),
    ("mV", "2Z", "millivolt"),
    ("kV", "KVT", "kilovolt"),
    ("A", "AMP", "ampere"),
    ("mA", "4K", "milliampere"),
    ("W", "WTT", "watt"),
    ("kW", "KWT", "kilowatt"),
    ("Wh", "WHR", "watt hour"),
    ("kWh", "KWH", "kilowatt hour"),
    ("var", "D44", "var"),
    ("kvar", "KVR", "kilovar"),
    ("VA", "D46", "volt - ampere"),
    ("kVA", "KVA", "kilovolt - ampere"),
    ("Hz", "HTZ", "hertz"),
    ("Cel", "CEL", "degree Celsius"),
    ("°C", "CEL", "degree Celsius"),
    ("bar", "BAR", "bar"),
    ("Pa", "PAL", "pascal"),
    ("kPa", "KPA", "kilopascal"),
    ("rpm", "RPM", "revolutions per minute"),
    ("%", "P1", "percent"),
    ("m3/h", "MQH", "cubic metre per hour"),
];

/// `EUInformation` for a unit: the UNECE code when known, else unitId -1 with the text.
pub fn eu_information(unit: &str) -> EUInformation {
    let (unit_id, description) = UNECE.iter().find(|(u, _, _)| *u == unit).map_or(
        (-1, unit.to_owned()),
        |(_, code, desc)| {
            // Part 8 §5.6.3: the code's characters, big-endian, in an Int32.
            let id = code.bytes().fold(0i32, |acc, b| (acc << 8) | i32::from(b));
            (id, (*desc).to_owned())
        },
    );
    EUInformation {
        namespace_uri: "http://www.opcfoundation.org/UA/units/un/cefact".into(),
        unit_id,
        display_name: LocalizedText::new("", unit),
        description: LocalizedText::new("", &description),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unece_codes_are_packed_big_endian() {
        assert_eq!(eu_information("V").unit_id, 5_655_636); // "VLT"
        assert_eq!(eu_information("°C").unit_id, 4_408_652); // "CEL"
        assert_eq!(eu_information("%").unit_id, 0x5031); // "P1"
        assert_eq!(eu_information("furlong").unit_id, -1);
    }
}
