//! A user-chosen data directory is initialised once, reused, and never deleted.

use pgkeel_embedded::Error;
use pgkeel_embedded::harness::private_cluster;
use pgkeel_testkit::{connect, simple_scalar};

#[tokio::test]
async fn kept_data_dir_is_reused_across_clusters() {
    let parent = std::env::temp_dir().join(format!("pgkeel-test-datadir-{}", std::process::id()));
    let dir = parent.join("data");
    {
        let cluster = private_cluster().data_dir(&dir).start().unwrap();
        assert_eq!(cluster.data_dir(), dir);
        let client = connect(&cluster.url()).await;
        client
            .batch_execute("CREATE TABLE survives (v text); INSERT INTO survives VALUES ('yes')")
            .await
            .unwrap();
    }
    assert!(dir.join("PG_VERSION").is_file(), "data dir removed on drop");
    {
        let cluster = private_cluster().data_dir(&dir).start().unwrap();
        let client = connect(&cluster.url()).await;
        assert_eq!(
            simple_scalar(&client, "SELECT v FROM survives")
                .await
                .unwrap(),
            "yes"
        );
    }
    std::fs::remove_dir_all(&parent).unwrap();
}

#[test]
fn a_non_empty_foreign_directory_is_refused() {
    let dir = std::env::temp_dir().join(format!("pgkeel-test-foreign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("precious.txt"), "do not touch").unwrap();
    let err = private_cluster().data_dir(&dir).start().unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("precious.txt")).unwrap(),
        "do not touch"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
