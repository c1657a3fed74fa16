//! Role images: a host whose inventory names an image gets that image's
//! kernel, initrd and command line from its own boot script, served from
//! the `--image` directory; a run for a host on an image this coordinator
//! does not serve fails at the inventory gate, before any power step.
mod common;
use common::*;

fn role_image(dir: &std::path::Path) -> std::path::PathBuf {
    let img = dir.join("role-b");
    std::fs::create_dir_all(&img).unwrap();
    std::fs::write(img.join("kernel"), b"role-b kernel bytes").unwrap();
    std::fs::write(img.join("initrd"), b"role-b initrd bytes").unwrap();
    std::fs::write(img.join("cmdline"), "console=ttyS0,115200 role=b\n").unwrap();
    img
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_on_a_role_image_boots_that_image() {
    let (d, _running) = with_qmp_peer(false, false);
    let img = role_image(d.path());
    let mut inv = inventory(d.path(), false);
    inv["hosts"]["vm1"]["expect"]["image"] = "role-b".into();
    let arg = format!("role-b={}", img.display());
    let e = start_inv(d.path(), inv, &["--image", &arg]);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run(&c, &e.url, "vm1").await.id;
    wait_state(&c, &e.url, &run, "provisioning").await;
    let s = boot_script(&c, &e.url).await;
    let u = &e.url;
    assert!(
        s.contains(&format!("kernel {u}/boot/images/role-b/kernel initrd=initrd console=ttyS0,115200 role=b e2et.coordinator=")),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "initrd --name initrd {u}/boot/images/role-b/initrd\n"
        )),
        "{s}"
    );
    let k = c
        .get(format!("{u}/boot/images/role-b/kernel"))
        .send()
        .await
        .unwrap();
    assert_eq!(k.status(), 200);
    assert_eq!(&k.bytes().await.unwrap()[..], b"role-b kernel bytes");
    // Only kernel and initrd of an image directory are served.
    let r = c
        .get(format!("{u}/boot/images/role-b/cmdline"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_not_served_fails_the_inventory_gate_before_power() {
    let (d, running) = with_qmp_peer(false, false);
    let mut inv = inventory(d.path(), false);
    inv["hosts"]["vm1"]["expect"]["image"] = "role-b".into();
    let e = start_inv(d.path(), inv, &[]);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run(&c, &e.url, "vm1").await.id;
    let v = wait_end(&c, &e.url, &run, 20).await;
    assert_eq!(v.state.as_str(), "failed");
    let r = report_of(&c, &e.url, &run).await;
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("image role-b, which this coordinator does not serve")),
        "{:?}",
        r.reasons
    );
    assert!(r.run.power_steps.is_empty(), "{:?}", r.run.power_steps);
    assert!(
        !*running.lock().unwrap(),
        "the outlet was never switched on"
    );
}
