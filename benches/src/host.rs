//! The machine a measurement ran on, for reports: speed figures are only comparable on
//! one processor, and the hosts these harnesses run on change without notice (the
//! thirty-fourth session found an Intel Xeon where earlier notes assumed an AMD Zen 5).

/// The processor, as `/proc/cpuinfo` names it (model name, with the vendor's family and
/// model numbers where it gives them), or the architecture where it names none (another
/// system, or a processor whose entry has no model name).
pub fn processor() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| from_cpuinfo(&text))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The first processor's name in a `/proc/cpuinfo` text: `model name (family F, model
/// M)`, the part in brackets where both numbers are given; `None` without a model name.
pub fn from_cpuinfo(text: &str) -> Option<String> {
    // The first processor's block: up to the first empty line.
    let block = text.split("\n\n").next()?;
    let field = |name: &str| {
        block.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    let name = field("model name").filter(|n| !n.is_empty())?;
    Some(match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("{name} (family {family}, model {model})"),
        _ => name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_processors_name_family_and_model_are_read() {
        let intel = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\n\
                     model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx512f\n\n\
                     processor\t: 1\ncpu family\t: 6\nmodel\t\t: 1\nmodel name\t: Other\n";
        assert_eq!(
            from_cpuinfo(intel).as_deref(),
            Some("Intel(R) Xeon(R) Processor (family 6, model 207)")
        );
        let amd = "processor\t: 0\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC 9R45\n";
        assert_eq!(
            from_cpuinfo(amd).as_deref(),
            Some("AMD EPYC 9R45 (family 26, model 2)")
        );
        // A name without the numbers; no name at all (some ARM kernels); nothing.
        assert_eq!(
            from_cpuinfo("model name : Some CPU\n").as_deref(),
            Some("Some CPU")
        );
        assert_eq!(from_cpuinfo("processor : 0\nBogoMIPS : 50.00\n"), None);
        assert_eq!(from_cpuinfo("model name :   \n"), None);
        assert_eq!(from_cpuinfo(""), None);
        // Whatever this machine is, it is named.
        assert!(!processor().is_empty());
    }
}
