//! deploy/kubernetes/ without a cluster: every manifest parses, the Deployment has what
//! a hardened multi-replica rollout needs (migrations with each new image, CPU and
//! memory limits its hash threads fit, no service links, HTTPS through an Ingress),
//! the image's user and port are the Dockerfile's, the README's steps make the KEK
//! they use, and the apply file in the ConfigMap applies.

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
    let mut args = tessera::config::ConfigArgs::default();
    args.telemetry.otlp_endpoint = Some(otlp);
    tessera::config::Settings::resolve(args).expect("tessera takes the manifest's otlp endpoint");
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

/// A Kubernetes memory quantity in MiB (`768Mi`, `1Gi`).
fn mib(q: &Value) -> u64 {
    let s = q.as_str().unwrap_or_else(|| panic!("a quantity: {q}"));
    if let Some(n) = s.strip_suffix("Mi") {
        n.parse().expect("MiB")
    } else if let Some(n) = s.strip_suffix("Gi") {
        n.parse::<u64>().expect("GiB") * 1024
    } else {
        panic!("memory as Mi or Gi: {s}")
    }
}

/// A Kubernetes CPU quantity in millicores (`500m`, `2`, `"2"`).
fn millicores(q: &Value) -> u64 {
    match q {
        Value::Number(n) => n.as_u64().expect("cores") * 1000,
        Value::String(s) => match s.strip_suffix('m') {
            Some(m) => m.parse().expect("millicores"),
            None => s.parse::<u64>().expect("cores") * 1000,
        },
        other => panic!("a CPU quantity: {other}"),
    }
}

/// The biggest single password hash the server may compute, MiB: an imported Django
/// argon2 hash up to the SPEC's ceiling ("Django projects move in": 256 MiB).
const LARGEST_HASH_MIB: u64 = 256;
/// What the server needs besides the hashes (workers, pools, caches), MiB, with room.
const SERVER_FOOTPRINT_MIB: u64 = 256;

#[test]
fn the_deployment_migrates_with_each_new_image_fits_its_limits_and_is_reachable_over_tls() {
    let all = manifests();
    let deployment = of_kind(&all, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let server = &pod["containers"][0];

    // Migrations run with every rollout's image: an init container of the pods, not a
    // Job (whose pod template Kubernetes refuses to change, so a new image cannot be
    // applied to it).
    assert!(
        all.iter().all(|(_, d)| d["kind"] != "Job"),
        "a Job's template is immutable: re-applying it with a new image fails"
    );
    let init = pod["initContainers"]
        .as_array()
        .expect("initContainers")
        .iter()
        .find(|c| c["args"] == json!(["migrate"]))
        .expect("an init container running `tessera migrate`");
    assert_eq!(
        init["image"], server["image"],
        "the same image as the server"
    );
    let env_names = |c: &Value| -> Vec<String> {
        c["env"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|v| v["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(env_names(init).contains(&"TESSERA_DATABASE_URL".to_string()));
    assert_eq!(init["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(init["resources"]["limits"]["memory"].is_string());

    // Service links off: no TESSERA_SERVICE_HOST & co. in the pods' environment.
    assert_eq!(pod["enableServiceLinks"], false);
    // Every TESSERA_* variable the manifest sets is one tessera reads (a misspelt one
    // would stop the pods: tessera refuses near-misses of its variables).
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--help"])
        .output()
        .expect("tessera --help");
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    for c in pod["containers"]
        .as_array()
        .into_iter()
        .chain(pod["initContainers"].as_array())
    {
        for c in c {
            for name in env_names(c).iter().filter(|n| n.starts_with("TESSERA_")) {
                assert!(
                    help.contains(&format!("[env: {name}")),
                    "{name} is no setting"
                );
            }
        }
    }

    // CPU and memory: requests and limits, and the hash threads capped to fit.
    let resources = &server["resources"];
    for (kind, what) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "cpu"),
        ("limits", "memory"),
    ] {
        assert!(!resources[kind][what].is_null(), "{kind}.{what}");
    }
    let cpu_limit = millicores(&resources["limits"]["cpu"]);
    assert!(cpu_limit >= millicores(&resources["requests"]["cpu"]));
    let env = |name: &str| -> Option<String> {
        server["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str().map(str::to_string))
    };
    let concurrency: u64 = env("TESSERA_PASSWORD_HASH_CONCURRENCY")
        .expect("TESSERA_PASSWORD_HASH_CONCURRENCY set: the default follows the node's CPUs")
        .parse()
        .expect("a number");
    assert!(
        (1..=(cpu_limit / 1000).max(1)).contains(&concurrency),
        "no more hash threads than cores"
    );
    let argon2_mib = env("TESSERA_ARGON2_MEMORY_KIB")
        .map_or(19, |k| k.parse::<u64>().expect("KiB").div_ceil(1024));
    let limit = mib(&resources["limits"]["memory"]);
    let needed = concurrency * LARGEST_HASH_MIB.max(argon2_mib) + SERVER_FOOTPRINT_MIB;
    assert!(
        needed <= limit,
        "{concurrency} hashes of up to {LARGEST_HASH_MIB} MiB + {SERVER_FOOTPRINT_MIB} MiB = \
         {needed} MiB exceed the {limit} MiB limit"
    );
    assert!(mib(&resources["requests"]["memory"]) <= limit);
    // glibc would keep freed hash buffers in per-thread arenas (measured: 40 logins took
    // a replica from 40 to 270 MiB); a fixed mmap threshold hands them back.
    assert!(env("GLIBC_TUNABLES").is_some_and(|t| t.contains("glibc.malloc.mmap_threshold=")));
    let workers: u64 = env("TESSERA_WORKERS")
        .expect("TESSERA_WORKERS")
        .parse()
        .expect("n");
    assert!(
        workers <= (cpu_limit / 1000).max(1),
        "workers follow the CPU limit"
    );
    // tessera takes every value the manifest sets.
    let mut args = tessera::config::ConfigArgs::default();
    args.passwords.password_hash_concurrency = Some(concurrency as usize);
    args.server.workers = Some(workers as usize);
    let settings = tessera::config::Settings::resolve(args).expect("valid settings");
    assert_eq!(
        settings.passwords.password_hash_concurrency as u64,
        concurrency
    );

    // An Ingress with TLS for the issuer's host, to the Service's port.
    let issuer = env("TESSERA_ISSUER").expect("issuer");
    let host = issuer
        .strip_prefix("https://")
        .expect("an https issuer")
        .trim_end_matches('/');
    let ingress = of_kind(&all, "Ingress");
    assert_eq!(ingress["apiVersion"], "networking.k8s.io/v1");
    let tls = &ingress["spec"]["tls"][0];
    assert!(tls["hosts"]
        .as_array()
        .is_some_and(|h| h.contains(&json!(host))));
    assert!(tls["secretName"].is_string());
    assert!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"].is_string(),
        "cert-manager issues the certificate (or bring your own TLS Secret)"
    );
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], host);
    let backend = &rule["http"]["paths"][0]["backend"]["service"];
    let service = of_kind(&all, "Service");
    assert_eq!(backend["name"], service["metadata"]["name"]);
    assert_eq!(backend["port"]["name"], service["spec"]["ports"][0]["name"]);
}

/// The shell lines of the README's Kubernetes section.
fn readme_kubernetes_steps() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let section = readme
        .split("### Kubernetes")
        .nth(1)
        .expect("a Kubernetes section")
        .split("\n## ")
        .next()
        .expect("section");
    let mut steps = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh => steps.push(l.to_string()),
            _ => {}
        }
    }
    steps
}

#[test]
fn the_readme_steps_make_the_kek_before_using_it_and_tessera_takes_it() {
    let steps = readme_kubernetes_steps();
    let used = steps
        .iter()
        .position(|l| l.contains("--from-file=kek=./kek"))
        .expect("the KEK Secret is made from ./kek");
    let made = steps
        .iter()
        .position(|l| l.contains("> kek") || l.contains(">kek") || l.contains("-out kek"))
        .unwrap_or_else(|| panic!("no step creates ./kek: {steps:#?}"));
    assert!(made < used, "./kek is created before it is used");
    let dir = tempfile::tempdir().expect("dir");
    let ok = std::process::Command::new("sh")
        .args(["-c", &steps[made]])
        .current_dir(dir.path())
        .status()
        .expect("sh");
    assert!(ok.success(), "{}", steps[made]);
    let mut args = tessera::config::ConfigArgs::default();
    args.signing.key_encryption_key_file = Some(dir.path().join("kek"));
    let settings =
        tessera::config::Settings::resolve(args).expect("tessera takes the KEK the README makes");
    assert!(settings.signing.key_encryption_key.is_some());
}
