// keys list|show|add|set|remove
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

constexpr std::size_t kMaxKeyInput = 64 * 1024;

std::string key_path(const std::string& md5) { return "/v1/ssh_keys/" + encode_path_segment(md5); }

// The API names keys by MD5 fingerprint; also accept "MD5:..." and "SHA256:..." as
// ssh-keygen -l prints them (SHA256 is looked up in the key list).
std::string resolve_fingerprint(Context& ctx, const std::string& fp) {
    if (fp.starts_with("MD5:")) return fp.substr(4);
    if (!fp.starts_with("SHA256:")) return fp;
    ListOptions all;
    all.all = true;
    for (const auto& k : ctx.list("/v1/ssh_keys", {}, all).items) {
        if (k.is_object() && text(k, "fingerprint_sha256") == fp && k.contains("fingerprint") &&
            k["fingerprint"].is_string())
            return k["fingerprint"].get<std::string>();
    }
    throw CliError(kExitNotFound, "no SSH key with fingerprint " + fp + " in this account");
}

std::string labels_text(const nlohmann::json& k) {
    if (!k.is_object() || !k.contains("labels") || !k["labels"].is_object()) return "-";
    std::string out;
    for (const auto& [name, value] : k["labels"].items()) {
        if (!out.empty()) out += ", ";
        out += name + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
    }
    return out.empty() ? "-" : out;
}

void print_key(const nlohmann::json& k) {
    Details d;
    d.add("Name", text(k, "name"));
    d.add("Type", text(k, "type"));
    d.add("Bits", text(k, "bits"));
    d.add("MD5 fingerprint", text(k, "fingerprint"));
    d.add("SHA256 fingerprint", text(k, "fingerprint_sha256"));
    d.add("User", text(k, "user_id"));
    d.add("Labels", labels_text(k));
    d.add("Public key", text(k, "public_key"));
    d.add("Created", text(k, "created_at"));
    d.add("Updated", text(k, "updated_at"));
    d.print(std::cout);
}

nlohmann::json parse_labels(const std::vector<std::string>& args) {
    nlohmann::json labels = nlohmann::json::object();
    for (const auto& a : args) {
        auto eq = a.find('=');
        if (eq == std::string::npos || eq == 0)
            throw usage_error("--label wants KEY=VALUE, got '" + term_safe(a) + "'");
        labels[a.substr(0, eq)] = a.substr(eq + 1);
    }
    return labels;
}

// One public key line out of a .pub file, authorized_keys-style text or stdin.
std::string extract_public_key(const std::string& text_in, const std::string& source) {
    if (text_in.find("PRIVATE KEY") != std::string::npos)
        throw usage_error(source + " holds a private key; pass the public key (.pub) instead");
    std::istringstream in(text_in);
    std::string line, key;
    int keys = 0;
    while (std::getline(in, line)) {
        auto b = line.find_first_not_of(" \t\r");
        if (b == std::string::npos || line[b] == '#') continue;
        auto e = line.find_last_not_of(" \t\r");
        key = line.substr(b, e - b + 1);
        ++keys;
    }
    if (keys == 0) throw usage_error(source + " holds no public key");
    if (keys > 1)
        throw usage_error(source + " holds " + std::to_string(keys) +
                          " keys; add them one at a time");
    return key;
}

std::string read_key_file(const std::string& path) {
    if (path == "-") return extract_public_key(read_stdin(kMaxKeyInput), "stdin");
    std::ifstream f(path, std::ios::binary);
    if (!f) throw usage_error("cannot read " + path);
    std::string data;
    char buf[4096];
    while (f.read(buf, sizeof buf) || f.gcount() > 0) {
        data.append(buf, static_cast<std::size_t>(f.gcount()));
        if (data.size() > kMaxKeyInput) throw usage_error(path + " is too large for a public key");
    }
    return extract_public_key(data, path);
}

}  // namespace

void register_key_commands(CLI::App& app, Context& ctx) {
    auto* keys = app.add_subcommand("keys", "SSH keys of the selected account");
    keys->require_subcommand(1);

    struct ListArgs {
        ListOptions page;
        std::string user, label;
    };
    auto la = std::make_shared<ListArgs>();
    auto* list = keys->add_subcommand("list", "List SSH keys (managers: their own)");
    add_list_options(list, la->page);
    list->add_option("--user", la->user, "Only this user's keys (user id or email)");
    list->add_option("--label", la->label, "Only keys with this label (KEY=VALUE)");
    on_run(list, ctx, [&ctx, la] {
        Query q;
        if (!la->user.empty()) q.emplace_back("user_id", resolve_user(ctx, la->user));
        if (!la->label.empty()) q.emplace_back("label_selector", la->label);
        Page p = ctx.list("/v1/ssh_keys", q, la->page);
        if (ctx.opts.json) return ctx.print_json(p);
        ctx.print_account_header();
        Table t({"NAME", "TYPE", "BITS", "SHA256 FINGERPRINT", "USER"});
        for (const auto& k : p.items)
            t.add_row({text(k, "name"), text(k, "type"), text(k, "bits"),
                       text(k, "fingerprint_sha256"), text(k, "user_id")});
        t.print(std::cout);
        print_page_hint(p, "keys");
    });

    auto show_fp = std::make_shared<std::string>();
    auto* show = keys->add_subcommand("show", "Show one key");
    show->add_option("FP", *show_fp, "MD5 fingerprint (or SHA256:...)")->required();
    on_run(show, ctx, [&ctx, show_fp] {
        auto r = ctx.call("GET", key_path(resolve_fingerprint(ctx, *show_fp)));
        ctx.emit(r, print_key);
    });

    struct AddArgs {
        std::string name, file, key, source, user;
        std::vector<std::string> labels;
    };
    auto aa = std::make_shared<AddArgs>();
    auto* add = keys->add_subcommand("add", "Add an SSH public key");
    add->add_option("--name", aa->name, "Key name (unique in the account)")->required();
    auto* file_opt = add->add_option("--key-file", aa->file, "Public key file ('-': stdin)");
    auto* key_opt = add->add_option("--key", aa->key, "The public key, e.g. \"ssh-ed25519 AAAA...\"");
    auto* src_opt = add->add_option("SOURCE", aa->source, "'-' reads the public key from stdin");
    file_opt->excludes(key_opt)->excludes(src_opt);
    key_opt->excludes(src_opt);
    add->add_option("--user", aa->user, "Add it for this user: id or email (owner)");
    add->add_option("--label", aa->labels, "Label KEY=VALUE (repeatable)")->allow_extra_args(false);
    on_run(add, ctx, [&ctx, aa, file_opt, key_opt, src_opt] {
        std::string public_key;
        if (file_opt->count() > 0) public_key = read_key_file(aa->file);
        else if (src_opt->count() > 0) public_key = read_key_file(aa->source);
        else if (key_opt->count() > 0)
            public_key = aa->key == "-" ? read_key_file("-") : extract_public_key(aa->key, "--key");
        else
            throw usage_error("no key given: pass --key-file FILE, --key \"ssh-ed25519 ...\" or - (stdin)");
        nlohmann::json body{{"name", aa->name}, {"public_key", public_key}};
        if (!aa->labels.empty()) body["labels"] = parse_labels(aa->labels);
        if (!aa->user.empty()) body["user_id"] = resolve_user(ctx, aa->user);
        auto r = ctx.call("POST", "/v1/ssh_keys", &body);
        ctx.emit(r, [](const nlohmann::json& k) {
            std::cout << "Added key " << term_safe(text(k, "fingerprint_sha256")) << ".\n";
            print_key(k);
        });
    });

    struct SetArgs {
        std::string fp, name;
        std::vector<std::string> labels;
        bool clear_labels = false;
    };
    auto sa = std::make_shared<SetArgs>();
    auto* set = keys->add_subcommand("set", "Rename a key or replace its labels");
    set->add_option("FP", sa->fp, "MD5 fingerprint (or SHA256:...)")->required();
    auto* name_opt = set->add_option("--name", sa->name, "New name");
    auto* label_opt = set->add_option("--label", sa->labels, "Label KEY=VALUE (repeatable; replaces all labels)")
                          ->allow_extra_args(false);
    set->add_flag("--clear-labels", sa->clear_labels, "Remove every label")->excludes(label_opt);
    on_run(set, ctx, [&ctx, sa, name_opt, label_opt] {
        nlohmann::json body = nlohmann::json::object();
        if (name_opt->count() > 0) body["name"] = sa->name;
        if (label_opt->count() > 0) body["labels"] = parse_labels(sa->labels);
        if (sa->clear_labels) body["labels"] = nlohmann::json::object();
        if (body.empty()) throw usage_error("nothing to change: pass --name, --label or --clear-labels");
        auto r = ctx.call("PUT", key_path(resolve_fingerprint(ctx, sa->fp)), &body);
        ctx.emit(r, print_key);
    });

    auto rm_fp = std::make_shared<std::string>();
    auto* remove = keys->add_subcommand("remove", "Delete a key");
    remove->add_option("FP", *rm_fp, "MD5 fingerprint (or SHA256:...)")->required();
    on_run(remove, ctx, [&ctx, rm_fp] {
        const std::string fp = resolve_fingerprint(ctx, *rm_fp);
        auto r = ctx.call("DELETE", key_path(fp));
        ctx.emit(r, [&](const nlohmann::json&) {
            std::cout << "Removed key " << term_safe(*rm_fp) << ".\n";
        });
    });
}

}  // namespace portal::ctl
