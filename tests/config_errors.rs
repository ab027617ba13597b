use edge_gateway::config::{Config, ConfigError};

fn show(name: &str, text: &str) {
    match Config::parse(text, "gateway.toml") {
        Ok(c) => {
            println!("=== {name}: OK");
            for w in &c.warnings {
                println!("  {w}");
            }
        }
        Err(ConfigError::Invalid { diagnostics, .. }) => {
            println!("=== {name}: ERR");
            for d in &diagnostics {
                println!("  {d}");
            }
        }
        Err(e) => println!("=== {name}: other {e}"),
    }
}

#[test]
fn probe() {
    let cases: &[(&str, &str)] = &[
        (
            "tag nmae",
            "[[device]]\nname = \"plc\"\nprotocol = \"tcp\"\nhost = \"10.0.0.1\"\npoll = \"2s\"\n\n[[device.tag]]\nnmae = \"a\"\nkind = \"holding\"\naddress = 0\ntype = \"u16\"\n",
        ),
        (
            "dev nmae",
            "[[device]]\nnmae = \"plc\"\nprotocol = \"tcp\"\nhost = \"10.0.0.1\"\npoll = \"2s\"\n\n[[device.tag]]\nname = \"a\"\nkind = \"holding\"\naddress = 0\ntype = \"u16\"\n",
        ),
        (
            "dev protcol",
            "[[device]]\nname = \"plc\"\nprotcol = \"tcp\"\nhost = \"10.0.0.1\"\npoll = \"2s\"\n\n[[device.tag]]\nname = \"a\"\nkind = \"holding\"\naddress = 0\ntype = \"u16\"\n",
        ),
        (
            "two unknown",
            "[[device]]\nname = \"plc\"\nprotocol = \"tcp\"\nhost = \"10.0.0.1\"\npoll = \"2s\"\nretires = 2\n\n[[device.tag]]\nname = \"a\"\nkind = \"holding\"\naddress = 0\ntype = \"u16\"\nwriteable = true\n",
        ),
        (
            "unti",
            "[[device]]\nname = \"plc\"\nprotocol = \"tcp\"\nhost = \"10.0.0.1\"\npoll = \"2s\"\n\n[[device.tag]]\nname = \"a\"\nkind = \"holding\"\naddress = 0\ntype = \"u16\"\nunti = \"degC\"\n",
        ),
        (
            "syntax2",
            "[[device]]\nname = \"plc\"\nprotocol = \"tcp\"\nhost = \"10.0.0.1\"\npoll = \"2s\"\n\n[[device.tag]]\nname = \"a\nkind = \"holding\"\n",
        ),
    ];
    for (n, t) in cases {
        show(n, t);
    }
    if let Err(e) = Config::parse(cases[3].1, "gateway.toml") {
        println!("DISPLAY<<{e}>>");
    }
}

#[test]
fn probe_spans() {
    #[derive(serde::Deserialize, Debug)]
    struct R {
        device: Vec<toml::Spanned<D>>,
    }
    #[derive(serde::Deserialize, Debug)]
    struct D {
        name: String,
        #[serde(default)]
        tag: Vec<toml::Spanned<toml::Table>>,
    }
    let text = "[[device]]\nname = \"plc\"\n\n[[device.tag]]\n        \nkind = 1\n\n[[device]]\nname = \"x\"\n";
    let r: R = toml::from_str(text).unwrap();
    for d in &r.device {
        println!("dev {:?} {:?}", d.span(), &text[d.span()]);
        for t in &d.get_ref().tag {
            println!("tag {:?} {:?}", t.span(), &text[t.span()]);
        }
    }
}
