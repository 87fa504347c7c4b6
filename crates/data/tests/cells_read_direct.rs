//! Cells parsed as they are read: `ChunkReader` without derived columns pushes each field
//! from the reader's buffer into its `ColumnBuilder` (no `RawTable` of `String`s), and a
//! categorical level among few is found by comparing bytes inline. Both must give what the
//! `RawTable` path gives: the same table, the same message for a bad cell.

use glassbox_data::*;

fn schema_of(csv: &str) -> Schema {
    let raw = RawTable::from_reader(
        std::io::Cursor::new(csv.as_bytes().to_vec()),
        "t.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    Schema::infer(&raw, &SchemaOverrides::new("test")).unwrap()
}

fn via_raw(csv: &str, schema: &Schema) -> Result<Table> {
    let raw = RawTable::from_reader(
        std::io::Cursor::new(csv.as_bytes().to_vec()),
        "t.csv",
        &ReadOptions::default(),
    )?;
    Table::from_raw(&raw, schema)
}

fn direct(csv: &str, schema: &Schema) -> Result<Table> {
    let mut reader = ChunkReader::from_reader(
        std::io::Cursor::new(csv.as_bytes().to_vec()),
        "t.csv",
        &ReadOptions::default(),
        schema,
        1000,
    )?;
    reader.next().unwrap()
}

const TRAIN: &str = "code,word,x,flag\n\
    12, aXb ,1.5,yes\n\
    21,aYb,,no\n\
    \"1\",\"a,b\",-2e3,yes\n\
    12,aXb,NA,\n";

#[test]
fn direct_reading_gives_the_raw_table_path_s_table() {
    let mut overrides = SchemaOverrides::new("test");
    overrides.set_kind("code", ColumnKind::Categorical);
    let raw = RawTable::from_reader(
        std::io::Cursor::new(TRAIN.as_bytes().to_vec()),
        "t.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    let schema = Schema::infer(&raw, &overrides).unwrap();
    let a = via_raw(TRAIN, &schema).unwrap();
    let b = direct(TRAIN, &schema).unwrap();
    assert_eq!(a.columns(), b.columns());
    assert_eq!(a.lines(), b.lines());
    // Levels of one length and the same first and last bytes are told apart ("aXb", "aYb";
    // "12", "21" differ in both ends), and equal ones are one level.
    let levels = |name: &str| match b.column(name).unwrap().data() {
        ColumnData::Categorical { levels, codes } => (levels.clone(), codes.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        levels("word"),
        (
            vec!["aXb".to_string(), "aYb".into(), "a,b".into()],
            vec![Some(0), Some(1), Some(2), Some(0)]
        )
    );
    assert_eq!(
        levels("code"),
        (
            vec!["12".to_string(), "21".into(), "1".into()],
            vec![Some(0), Some(1), Some(2), Some(0)]
        )
    );
}

#[test]
fn a_bad_cell_has_the_same_message_either_way() {
    let schema = schema_of(TRAIN);
    for bad in [
        "code,word,x,flag\n12,aXb,1.5,yes\n21,aYb,abc,no\n",
        "code,word,x,flag\n12,aXb,1.5,maybe\n",
        "code,word,x,flag\n12,aXb,1e999,yes\n",
        "code,word,x,flag\n12,aXb,1.5\n",
        "code,word,flag\n12,aXb,yes\n",
    ] {
        let a = via_raw(bad, &schema).unwrap_err().to_string();
        let b = direct(bad, &schema).unwrap_err().to_string();
        assert_eq!(a, b, "{bad}");
        assert!(a.contains("t.csv"), "{a}");
    }
    // The negative control: a good body reads both ways.
    assert!(direct("code,word,x,flag\n12,aXb,1.5,yes\n", &schema).is_ok());
}
