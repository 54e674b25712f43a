//! Laying converted resources out as files: a stream, a kustomize
//! directory, or a Helm chart.

use super::{yaml, Conversion, Resource, Target};
use serde_json::{json, Value};

/// One output file, its path relative to the output directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: String,
    pub content: String,
}

fn header(conv: &Conversion) -> String {
    format!(
        "Made by `wharf convert --to {}` from compose project {}.",
        conv.options.target.name(),
        conv.project
    )
}

fn document(resource: &Resource) -> String {
    yaml::document(&resource.comments, &resource.manifest)
}

pub fn stream(conv: &Conversion) -> String {
    let docs: Vec<String> = conv.resources.iter().map(document).collect();
    let mut out = format!("# {}\n", header(conv));
    out.push_str(&yaml::stream(&docs));
    out
}

fn file_name(resource: &Resource) -> String {
    format!(
        "{}-{}.yaml",
        resource.name,
        resource.kind.to_ascii_lowercase()
    )
}

pub fn files(conv: &Conversion) -> Vec<RenderedFile> {
    match conv.options.target {
        Target::Kubernetes => plain_files(conv),
        Target::Kustomize => {
            let mut files = plain_files(conv);
            let mut kustomization = json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
            });
            if let Some(ns) = &conv.options.namespace {
                kustomization["namespace"] = json!(ns);
            }
            files.push(RenderedFile {
                path: "kustomization.yaml".into(),
                content: yaml::document(&[header(conv)], &kustomization),
            });
            files
        }
        Target::Helm => helm_files(conv),
    }
}

fn plain_files(conv: &Conversion) -> Vec<RenderedFile> {
    conv.resources
        .iter()
        .map(|r| RenderedFile {
            path: file_name(r),
            content: document(r),
        })
        .collect()
}

/// Go templates read `{{` as an action: literal ones are written as a
/// template string that prints them.
fn escape_template(text: &str) -> String {
    text.replace("{{", "{{ \"{{\" }}")
}

fn helm_files(conv: &Conversion) -> Vec<RenderedFile> {
    let chart_name = conv.project.clone();
    let chart = json!({
        "apiVersion": "v2",
        "name": chart_name,
        "description": format!("The {} compose project, converted by wharf", conv.project),
        "type": "application",
        "version": "0.1.0",
    });
    let mut files = vec![
        RenderedFile {
            path: "Chart.yaml".into(),
            content: yaml::document(&[header(conv)], &chart),
        },
        RenderedFile {
            path: "values.yaml".into(),
            content: yaml::document(
                &["Per service: image, imagePullPolicy and (for Deployments) replicas.".into()],
                &conv.values,
            ),
        },
    ];
    for resource in &conv.resources {
        let mut manifest = resource.manifest.clone();
        let mut substitutions = Vec::new();
        for (i, t) in resource.templated.iter().enumerate() {
            if let Some(slot) = manifest.pointer_mut(&t.pointer) {
                let sentinel = format!("WHARFHELMVALUE{i}X");
                *slot = Value::String(sentinel.clone());
                let expr = if t.key == "replicas" {
                    format!(
                        "{{{{ index .Values.services {:?} {:?} }}}}",
                        t.service, t.key
                    )
                } else {
                    format!(
                        "{{{{ index .Values.services {:?} {:?} | quote }}}}",
                        t.service, t.key
                    )
                };
                substitutions.push((sentinel, expr));
            }
        }
        let mut text = escape_template(&yaml::document(&resource.comments, &manifest));
        for (sentinel, expr) in substitutions {
            text = text.replace(&sentinel, &expr);
        }
        files.push(RenderedFile {
            path: format!("templates/{}", file_name(resource)),
            content: text,
        });
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_braces_are_escaped_for_helm() {
        assert_eq!(escape_template("a {{x}} b"), "a {{ \"{{\" }}x}} b");
    }
}
