//! Cost arithmetic, from the organisation's size catalogue and compute prices.

use std::process::Command;

fn cost(by: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pctl"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "cost",
            "--all",
            "fixtures/acme",
            "--by",
            by,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["summary"].clone()
}

#[test]
fn payment_api_costs_what_the_catalogue_says() {
    // compute_usd_month: cpu 25, memory_gib 3.
    //   dev      1 x (250m, 256Mi) = 0.25*25 + 0.25*3          =   7.00
    //   staging  2 x (250m, 256Mi)                              =  14.00
    //   prod     3 (autoscale min) x (1 CPU, 1Gi) = 3 * 28      =  84.00
    // resources: db medium 140 (dev, staging), large 560 (prod) = 840
    //            cache small 25 x 3 = 75; events standard 5 x 3 = 15
    let s = cost("service");
    let row = s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == "payment-api")
        .unwrap();
    assert_eq!(row["usd_month"], 1035.0);
    let lines = s["lines"].as_array().unwrap();
    let prod_compute = lines
        .iter()
        .find(|l| {
            l["service"] == "payment-api" && l["environment"] == "prod" && l["item"] == "compute"
        })
        .unwrap();
    assert_eq!(prod_compute["usd_month"], 84.0);
    assert_eq!(prod_compute["what"], "3 x (1 CPU, 1Gi)");
    let rows: f64 = s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["usd_month"].as_f64().unwrap())
        .sum();
    assert!((rows - s["total_usd_month"].as_f64().unwrap()).abs() < 0.005);

    let teams = cost("team");
    let payments = teams["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["team"] == "team-payments")
        .unwrap();
    assert_eq!(payments["usd_month"], 1035.0);
    assert_eq!(payments["budget_usd_month"], 5000.0);
}
