//! deploy/kubernetes/ without a cluster: every manifest parses, the Deployment has what
//! a hardened multi-replica rollout needs, the image's user and port are the
//! Dockerfile's, and the apply file in the ConfigMap applies.

use crate::helpers::{run_cli, run_cli_env, TestDb};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(r) => r.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        Yaml::Integer(i) => json!(i),
        Yaml::String(s) => json!(s),
        Yaml::Boolean(b) => json!(b),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{k:?}")),
                        to_json(v),
                    )
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// Every document of every manifest, by file.
fn manifests() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir())
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let docs = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        for d in docs {
            out.push((name.clone(), to_json(&d)));
        }
    }
    out
}

fn of_kind<'a>(all: &'a [(String, Value)], kind: &str) -> &'a Value {
    &all.iter()
        .find(|(_, d)| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
        .1
}

/// The value after `key` in the Dockerfile (`EXPOSE 8080`, `--uid 10001`).
fn dockerfile_value(key: &str) -> i64 {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"))
        .expect("Dockerfile");
    let after = text
        .split(key)
        .nth(1)
        .unwrap_or_else(|| panic!("{key} in Dockerfile"));
    after
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a number after {key}"))
}

#[test]
fn the_manifests_parse_and_the_deployment_is_hardened() {
    let all = manifests();
    for (file, doc) in &all {
        assert!(
            doc["apiVersion"].is_string() && doc["kind"].is_string(),
            "{file}: {doc}"
        );
    }
    let kustomization = of_kind(&all, "Kustomization");
    let listed: Vec<&str> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for (file, _) in &all {
        let expected = file != "kustomization.yaml" && file != "secrets.example.yaml";
        assert_eq!(
            listed.contains(&file.as_str()),
            expected,
            "{file} in kustomization.yaml"
        );
    }

    let deployment = of_kind(&all, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["runAsUser"],
        dockerfile_value("--uid"),
        "the image's user"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert!(
        c["resources"]["requests"]["cpu"].is_string()
            && c["resources"]["requests"]["memory"].is_string()
    );
    assert_eq!(
        c["ports"][0]["containerPort"],
        dockerfile_value("EXPOSE"),
        "the image's port"
    );
    let env = |name: &str| -> Value {
        c["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("env {name}"))
    };
    assert!(env("TESSERA_ISSUER")["value"]
        .as_str()
        .is_some_and(|v| v.starts_with("https://")));
    assert!(env("TESSERA_DATABASE_URL")["valueFrom"]["secretKeyRef"]["name"].is_string());
    // Traces: an endpoint tessera takes, and the pod's name on every span, from a
    // variable defined before the one that refers to it (as Kubernetes expands them).
    let otlp = env("TESSERA_OTLP_ENDPOINT")["value"]
        .as_str()
        .expect("otlp endpoint")
        .to_string();
    tessera::config::Settings::resolve(tessera::config::ConfigArgs {
        otlp_endpoint: Some(otlp),
        ..Default::default()
    })
    .expect("tessera takes the manifest's otlp endpoint");
    let names: Vec<&str> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    let position = |n: &str| names.iter().position(|x| *x == n).expect("env entry");
    assert_eq!(
        env("POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert!(env("OTEL_RESOURCE_ATTRIBUTES")["value"]
        .as_str()
        .is_some_and(|v| v.contains("k8s.pod.name=$(POD_NAME)")));
    assert!(position("POD_NAME") < position("OTEL_RESOURCE_ATTRIBUTES"));
    let mounts = c["volumeMounts"].as_array().expect("mounts");
    let mounted = |volume: &str| -> String {
        mounts
            .iter()
            .find(|m| m["name"] == volume)
            .and_then(|m| m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("mount {volume}"))
            .to_string()
    };
    let volume = |name: &str| -> Value {
        pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("volume {name}"))
    };
    let kek = env("TESSERA_KEY_ENCRYPTION_KEY_FILE")["value"]
        .as_str()
        .expect("kek")
        .to_string();
    assert!(
        kek.starts_with(&mounted("kek")),
        "the KEK comes from the Secret volume"
    );
    assert!(volume("kek")["secret"]["secretName"].is_string());
    let apply = env("TESSERA_APPLY")["value"]
        .as_str()
        .expect("apply")
        .to_string();
    assert!(
        apply.starts_with(&mounted("clients")),
        "the apply file comes from the ConfigMap"
    );
    let configmap = of_kind(&all, "ConfigMap");
    assert_eq!(
        volume("clients")["configMap"]["name"],
        configmap["metadata"]["name"]
    );
    let file_name = apply.rsplit('/').next().expect("file");
    assert!(
        configmap["data"][file_name].is_string(),
        "the ConfigMap holds {file_name}"
    );

    let service = of_kind(&all, "Service");
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"],
        c["ports"][0]["name"]
    );
    let pdb = of_kind(&all, "PodDisruptionBudget");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    assert!(pdb["spec"]["minAvailable"]
        .as_i64()
        .is_some_and(|n| (1..3).contains(&n)));
    let job = of_kind(&all, "Job");
    let job_pod = &job["spec"]["template"]["spec"];
    assert_eq!(job_pod["containers"][0]["args"], json!(["migrate"]));
    assert_eq!(job_pod["securityContext"]["runAsNonRoot"], true);
}

#[tokio::test]
async fn the_configmaps_apply_file_applies() {
    let all = manifests();
    let configmap = of_kind(&all, "ConfigMap");
    let text = configmap["data"]["clients.toml"]
        .as_str()
        .expect("clients.toml");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("clients.toml");
    std::fs::write(&path, text).expect("write");
    let db = TestDb::new();
    assert!(run_cli(&db, &["migrate"], None).await.success);
    let secret = "a-secret-for-the-example-of-at-least-32-chars";
    let out = run_cli_env(
        &db,
        &["apply", &path.display().to_string()],
        None,
        &[("ORDERS_SERVICE_SECRET", secret)],
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    assert!(out.json()["changes"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
}
