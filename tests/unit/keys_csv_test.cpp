#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "keys/keys_csv.hpp"

namespace {

using orp::keys::keys_file_error;
using orp::keys::parse_keys_csv;

constexpr const char* key_a = "sk-or-v1-test-alpha-0000-0001";
constexpr const char* key_b = "sk-or-v1-test-beta-0000-0002";

std::string error_of(std::string_view text) {
  try {
    parse_keys_csv(text, "keys.csv");
  } catch (const keys_file_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(KeysCsv, HeaderLabelsAndWeights) {
  const auto records = parse_keys_csv(std::string("key,label,weight\n") + key_a + ",team-a,2.5\n" + key_b + ",,\n",
                                      "keys.csv");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].key.reveal(), key_a);
  EXPECT_EQ(records[0].label, "team-a");
  EXPECT_EQ(records[0].key.display(), "team-a");
  EXPECT_DOUBLE_EQ(records[0].weight, 2.5);
  EXPECT_EQ(records[0].line, 2);
  EXPECT_EQ(records[1].label, "");
  EXPECT_DOUBLE_EQ(records[1].weight, 1.0);
  EXPECT_EQ(records[1].line, 3);
}

TEST(KeysCsv, HeaderIsOptional) {
  const auto records = parse_keys_csv(std::string(key_a) + "\n" + key_b + ",b\n", "keys.csv");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].line, 1);
  EXPECT_EQ(records[1].label, "b");
}

TEST(KeysCsv, HeaderMayReorderColumns) {
  const auto records = parse_keys_csv(std::string("Label, Key\nteam-a,") + key_a + "\n", "keys.csv");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key.reveal(), key_a);
  EXPECT_EQ(records[0].label, "team-a");
}

TEST(KeysCsv, CommentsBlankLinesWhitespaceCrlfAndBom) {
  const std::string text = std::string("\xEF\xBB\xBF# pool\r\n\r\n  key , label \r\n   \r\n") + "  " + key_a +
                           "  ,  team a  \r\n# " + key_b + " (retired)\r\n";
  const auto records = parse_keys_csv(text, "keys.csv");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key.reveal(), key_a);
  EXPECT_EQ(records[0].label, "team a");
  EXPECT_EQ(records[0].line, 5);
}

TEST(KeysCsv, QuotedLabelMayHoldCommas) {
  const auto records = parse_keys_csv(std::string(key_a) + R"(,"Smith, ""J""",3)", "keys.csv");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].label, R"(Smith, "J")");
  EXPECT_DOUBLE_EQ(records[0].weight, 3.0);
}

TEST(KeysCsv, EmptyFileIsAnEmptyPool) {
  EXPECT_TRUE(parse_keys_csv("", "keys.csv").empty());
  EXPECT_TRUE(parse_keys_csv("# no keys yet\n\nkey,label,weight\n", "keys.csv").empty());
}

TEST(KeysCsv, WhitespaceInsideKeyIsAnErrorWithoutTheKey) {
  const std::string error = error_of(std::string("key\n") + "sk-or-v1-test-alpha 0000-0001\n");
  EXPECT_EQ(error, "keys.csv:2: the key contains a space: separate the fields with commas (key,label,weight)");
}

// Another separator leaves the whole line in the key column, the header too: refused, naming the
// line and the separator, never showing the key.
TEST(KeysCsv, SemicolonOrTabSeparatedFilesAreRefusedWithAHint) {
  EXPECT_EQ(error_of("key;label;weight\n" + std::string(key_a) + ";team-a;1\n"),
            "keys.csv:1: the key contains ';': separate the fields with commas (key,label,weight)");
  const std::string semicolon = error_of(std::string(key_a) + ";team-a;1\n");
  EXPECT_EQ(semicolon, "keys.csv:1: the key contains ';': separate the fields with commas (key,label,weight)");
  const std::string tab = error_of("# pool\n" + std::string(key_a) + "\tteam-a\t1\n");
  EXPECT_EQ(tab, "keys.csv:2: the key contains a tab: separate the fields with commas (key,label,weight)");
  const std::string quote = error_of(std::string(key_a) + "',team-a\n");
  EXPECT_EQ(quote, "keys.csv:1: the key contains a quote (only a whole field may be quoted, \"like this\")");
  const std::string non_ascii = error_of(std::string(key_a) + "\xC3\xA9,team-a\n");
  EXPECT_EQ(non_ascii, "keys.csv:1: the key contains whitespace, a non-printable or a non-ASCII character");
  for (const auto& e : {semicolon, tab, quote, non_ascii}) EXPECT_EQ(e.find("test-alpha"), std::string::npos) << e;
  // A whole quoted key is fine.
  EXPECT_EQ(parse_keys_csv("\"" + std::string(key_a) + "\",team-a\n", "keys.csv").size(), 1u);
}

TEST(KeysCsv, ASecondHeaderLineIsNamedAsOne) {
  EXPECT_EQ(error_of("key,label,weight\n" + std::string(key_a) + ",a,1\nkey,label,weight\n" + key_b + ",b,1\n"),
            "keys.csv:3: this line looks like a header; only the first line (after comments) may be one");
  EXPECT_EQ(error_of(std::string(key_a) + "\nLabel, Key\n"),
            "keys.csv:2: this line looks like a header; only the first line (after comments) may be one");
  // A key labelled "key" is no header.
  EXPECT_EQ(parse_keys_csv(std::string(key_a) + ",a\n" + key_b + ",key\n", "keys.csv")[1].label, "key");
}

TEST(KeysCsv, KeysNotStartingWithSkOrAreNamedByLineInOneWarning) {
  const auto records =
      parse_keys_csv(std::string(key_a) + "\nplainkey-0123456789\n# x\nsk-ant-0123456789,x\n" + key_b + "\n", "keys.csv");
  const auto warning = orp::keys::unusual_keys_warning(records, "keys.csv");
  ASSERT_TRUE(warning);
  EXPECT_EQ(*warning, "keys.csv: the keys on lines 2, 4 do not look like an OpenRouter key (those start with sk-or-); "
                      "used as written, but check for a shifted column or a key from another service");
  EXPECT_EQ(warning->find("0123456789"), std::string::npos);
  const auto one = orp::keys::unusual_keys_warning(parse_keys_csv("plainkey-0123456789\n", "k"), "k");
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->starts_with("k: the key on line 1 does not look like")) << *one;
  EXPECT_FALSE(orp::keys::unusual_keys_warning(parse_keys_csv(std::string(key_a) + "\n", "k"), "k"));
}

TEST(KeysCsv, TooManyFields) {
  const std::string error = error_of(std::string(key_a) + ",a,1,extra\n");
  EXPECT_TRUE(error.starts_with("keys.csv:1: too many fields")) << error;
  EXPECT_EQ(error.find("test-alpha"), std::string::npos);
}

TEST(KeysCsv, WeightsAreCappedWithTheLineNamed) {
  EXPECT_EQ(error_of(std::string("# c\n") + key_a + ",a,1e308\n"),
            "keys.csv:2: weight '1e308' is over the largest weight, 1000000 (weights are relative: 3 and 1 share the "
            "requests 3:1)");
  EXPECT_TRUE(error_of(std::string(key_a) + ",a,1000001\n").starts_with("keys.csv:1: weight"));
  EXPECT_EQ(parse_keys_csv(std::string(key_a) + ",a,1000000\n", "keys.csv").at(0).weight, 1e6);
}

TEST(KeysCsv, BadWeights) {
  for (const char* weight : {"abc", "0", "-1", "nan", "inf", "1x", "1e999"}) {
    const std::string error = error_of(std::string(key_a) + ",a," + weight + "\n");
    EXPECT_TRUE(error.starts_with("keys.csv:1: weight")) << weight << ": " << error;
  }
}

TEST(KeysCsv, KeyInTheWeightColumnIsRefusedMasked) {
  const std::string error = error_of(std::string("label,weight,key\nteam,") + key_b + "," + key_a + "\n");
  EXPECT_EQ(error, "keys.csv:2: the weight column holds what looks like an OpenRouter key (sk-or-v1-\u2026"
                   "0002); the columns are key,label,weight");
  EXPECT_EQ(error.find("test-beta"), std::string::npos) << error;
}

// A headerless `label,key` line would make the label the key and show the real key as its label.
TEST(KeysCsv, LabelFirstLineIsRefusedWithTheKeyMasked) {
  const std::string real_key = "sk-or-v1-" + std::string(60, 'e') + "9f3a";
  const std::string error = error_of("team-a," + real_key + "\n");
  EXPECT_EQ(error, "keys.csv:1: the label column holds what looks like an OpenRouter key (sk-or-v1-\u2026"
                   "9f3a); the columns are key,label,weight (are key and label swapped?)");
  EXPECT_EQ(error.find("eeee"), std::string::npos) << error;
}

TEST(KeysCsv, KeyLikeLabelIsRefusedInAnyCaseAndAfterARealKey) {
  const std::string upper = error_of(std::string(key_a) + ",SK-OR-V1-TEST-SHOUTED-0003\n");
  EXPECT_TRUE(upper.starts_with("keys.csv:1: the label column holds what looks like an OpenRouter key")) << upper;
  EXPECT_EQ(upper.find("SHOUTED"), std::string::npos) << upper;
  // The key column holds a key too, so this is no swap: the hint would mislead.
  EXPECT_EQ(upper.find("swapped"), std::string::npos) << upper;
  const std::string embedded = error_of(std::string(key_a) + ",old " + key_b + "\n");
  EXPECT_TRUE(embedded.starts_with("keys.csv:1: the label column holds")) << embedded;
  EXPECT_EQ(embedded.find("test-beta"), std::string::npos) << embedded;
}

TEST(KeysCsv, LabelsThatMerelyMentionSkAreAccepted) {
  const auto records = parse_keys_csv(std::string(key_a) + ",sk team\n" + key_b + ",or-team\n", "keys.csv");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].label, "sk team");
}

TEST(KeysCsv, DuplicateKeyNamesBothLines) {
  const std::string error = error_of(std::string(key_a) + ",a\n# x\n" + key_b + "\n" + key_a + ",again\n");
  EXPECT_EQ(error, "keys.csv:4: duplicate key sk-or-v1-\u2026" "0001 (first on line 1)");
}

TEST(KeysCsv, MalformedLines) {
  EXPECT_TRUE(error_of(",label\n").starts_with("keys.csv:1: missing key"));
  EXPECT_TRUE(error_of(std::string(key_a) + ",\"unterminated\n").starts_with("keys.csv:1: malformed quoting"));
  EXPECT_TRUE(error_of("key,colour\n").starts_with("keys.csv:1: unknown column 'colour'"));
  EXPECT_TRUE(error_of("key,key\n").starts_with("keys.csv:1: column 'key' appears twice"));
}

// A key of another form than sk-or- cannot be recognised in a label by its shape, but a label
// holding any key of the same file is refused all the same: labels are printed everywhere.
TEST(KeysCsv, ALabelHoldingAnotherKeyOfTheFileIsRefusedMasked) {
  const std::string plain = "weirdkey_0123456789ABCDEFGHIJ";
  const std::string text = std::string(key_a) + ",x-" + plain + "\n" + plain + ",l2\n";
  const std::string error = error_of(text);
  EXPECT_TRUE(error.starts_with("keys.csv:1: the label holds the key of line 2 (")) << error;
  EXPECT_EQ(error.find("0123456789"), std::string::npos) << error;
}

TEST(KeysCsv, RepeatedLabelsAreWarnedAboutWithTheirLines) {
  const std::string key_c = "sk-or-v1-test-gamma-0000-0003";
  const auto records = parse_keys_csv(std::string(key_a) + ",team\n" + key_b + ",solo\n# x\n" + key_c + ",team\n",
                                      "keys.csv");
  const auto warnings = orp::keys::repeated_label_warnings(records, "keys.csv");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "keys.csv: lines 1, 4 share the label 'team': logs and X-Proxy-Key cannot tell these keys "
                         "apart (/keys and /metrics do, by id)");
  EXPECT_TRUE(orp::keys::repeated_label_warnings(parse_keys_csv(std::string(key_a) + ",a\n" + key_b + "\n", "k"), "k")
                  .empty());
}

TEST(KeysCsv, ReadsAFileAndNamesItInErrors) {
  const auto dir = std::filesystem::temp_directory_path() / ("keys_csv_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "keys.csv";
  std::ofstream(file) << "key,label\n" << key_a << ",a\n" << key_a << ",b\n";
  try {
    orp::keys::read_keys_csv(file);
    ADD_FAILURE() << "expected an error";
  } catch (const keys_file_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(file.string() + ":3: duplicate key", 0), 0u) << e.what();
  }
  std::ofstream(file) << key_a << "\n";
  EXPECT_EQ(orp::keys::read_keys_csv(file).size(), 1u);
  EXPECT_THROW(orp::keys::read_keys_csv(dir / "missing.csv"), keys_file_error);
  std::filesystem::remove_all(dir);
}

TEST(KeysCsv, LabelsMustBeUtf8WithoutControlCharactersAndOfBoundedLength) {
  // A label goes into X-Proxy-Key, JSON (/keys) and Prometheus text (/metrics).
  EXPECT_EQ(error_of(std::string(key_a) + ",caf\xe9\n"), "keys.csv:1: the label is not valid UTF-8 (save the file as UTF-8)");
  EXPECT_EQ(error_of(std::string("# c\n") + key_a + ",\"bad\xff\xfe\"\n"),
            "keys.csv:2: the label is not valid UTF-8 (save the file as UTF-8)");
  EXPECT_EQ(error_of(std::string(key_a) + ",a\x1b[31mred\n"),
            "keys.csv:1: the label holds a control character (such as NUL, a tab or ESC)");
  EXPECT_EQ(error_of(std::string(key_a) + "," + std::string("nul\0x", 5) + "\n"),
            "keys.csv:1: the label holds a control character (such as NUL, a tab or ESC)");
  EXPECT_EQ(error_of(std::string(key_a) + "," + std::string(129, 'x') + "\n"),
            "keys.csv:1: the label is 129 characters long; at most 128");
  // Characters, not bytes: 128 two-byte letters are fine.
  std::string long_accented;
  for (int i = 0; i < 128; ++i) long_accented += "\xc3\xa9";
  const auto records = parse_keys_csv(std::string(key_a) + ",caf\xc3\xa9 team\n" + key_b + "," + long_accented + "\n", "keys.csv");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].label, "caf\xc3\xa9 team");
}

}  // namespace

// A key of another service is not recognised by its shape: a column mix-up that puts it where a
// weight or a column name belongs must not quote it back (the error reaches the log, the admin
// endpoint's 422 and `keys status`).
TEST(KeysCsv, FieldsQuotedInErrorsCannotBeKeys) {
  const std::string other_service = "corp-gateway-secret-7f3a9c2e5b1d";
  for (const std::string text : {"team-a,1," + other_service + "\n",  // label,weight,key order, no header
                                 "key," + other_service + "\n" + std::string(key_a) + ",x\n"}) {
    try {
      orp::keys::parse_keys_csv(text, "keys.csv");
      ADD_FAILURE() << "accepted";
    } catch (const std::exception& e) {
      EXPECT_EQ(std::string(e.what()).find("7f3a9c2e5b1d"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not shown"), std::string::npos) << e.what();
    }
  }
  // Short numbers and names are still quoted: they help.
  try {
    orp::keys::parse_keys_csv(std::string(key_a) + ",x,lots\n", "keys.csv");
    ADD_FAILURE() << "accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("weight 'lots'"), std::string::npos) << e.what();
  }
}
