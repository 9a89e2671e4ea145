use super::*;

#[test]
fn scratch() {
    let c = Catalogue::embedded();
    match &c {
        Ok(c) => println!("{} rules, line of first {}", c.rules.len(), c.rules[0].line),
        Err(e) => println!("ERR {e}"),
    }
    for t in [
        "[[rule]]\nid = \"a\"\nbogus = 1\n",
        "[[rule]]\nid = \"a\"\n",
        "[[rule]]\nid = \"a\"\ntable = \"1\"\nsrc = \"sync\"\ndst = \"dc\"\ntransport = [\"tcp\"]\nports = true\nprotocol = \"x\"\ndescription = \"y\"\nfeatures = []\nwhen = \"on-demand\"\n",
        "foo = 1\n",
        "rule = 3\n",
    ] {
        println!("{:?}", Catalogue::parse("f.toml", t).map(|_| ()));
    }
}
