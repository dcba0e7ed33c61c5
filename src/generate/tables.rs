//! The constant tables the traffic is drawn from: alphabets, month names, Windows SIDs and RIDs,
//! internet address ranges, people's names, syslog commands and cron jobs, the web site's pages
//! and user agents, Windows processes, network images and process accesses, Zeek histories,
//! ticket options and service accounts. The attack scenarios' own tables are in `inject.rs`.

pub(super) const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
pub(super) const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
pub(super) const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub(super) const MONTHS: [&[u8]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

pub(super) const DOMAIN_SID: &[u8] = b"S-1-5-21-3623811015-3361044348-30300820-";
pub(super) const USER_RID_BASE: u64 = 1_105;
pub(super) const SERVICE_RID_BASE: u64 = 1_050;
pub(super) const SERVER_RID_BASE: u64 = 600_000;
/// RIDs of the attackers' accounts: above every background user's.
pub(super) const ATTACKER_RID_BASE: u64 = 900_000;

pub(super) const PUBLIC_FIRST_OCTETS: [u8; 40] = [
    5, 23, 31, 37, 45, 46, 51, 62, 66, 77, 78, 80, 81, 82, 84, 85, 87, 89, 91, 93, 94, 95, 103, 104, 109, 114, 118, 122, 141, 151, 154, 176, 178, 185, 188,
    190, 193, 195, 203, 212,
];

pub(super) const FIRST_NAMES: [&[u8]; 64] = [
    b"alice", b"bob", b"carol", b"dave", b"erin", b"frank", b"grace", b"heidi", b"ivan", b"judy", b"mallory", b"nick", b"olivia", b"peggy", b"rupert",
    b"sybil", b"trent", b"victor", b"walter", b"wendy", b"aaron", b"bella", b"chen", b"diana", b"emma", b"farid", b"gina", b"hugo", b"irene", b"jamal",
    b"kate", b"liam", b"maria", b"noah", b"oscar", b"priya", b"quinn", b"rosa", b"sam", b"tara", b"umar", b"vera", b"will", b"xena", b"yusuf", b"zoe", b"anna",
    b"ben", b"clara", b"dmitri", b"elena", b"felix", b"hana", b"igor", b"jonas", b"kenji", b"lena", b"marco", b"nina", b"omar", b"paula", b"raj", b"sofia",
    b"tom",
];

pub(super) const LAST_NAMES: [&[u8]; 64] = [
    b"smith",
    b"jones",
    b"garcia",
    b"miller",
    b"davis",
    b"lopez",
    b"wilson",
    b"anderson",
    b"thomas",
    b"taylor",
    b"moore",
    b"jackson",
    b"martin",
    b"lee",
    b"perez",
    b"thompson",
    b"white",
    b"harris",
    b"clark",
    b"lewis",
    b"walker",
    b"hall",
    b"allen",
    b"young",
    b"king",
    b"wright",
    b"scott",
    b"green",
    b"baker",
    b"adams",
    b"nelson",
    b"hill",
    b"campbell",
    b"mitchell",
    b"roberts",
    b"carter",
    b"phillips",
    b"evans",
    b"turner",
    b"torres",
    b"parker",
    b"collins",
    b"edwards",
    b"stewart",
    b"morris",
    b"murphy",
    b"cook",
    b"rogers",
    b"morgan",
    b"cooper",
    b"peterson",
    b"reed",
    b"bailey",
    b"bell",
    b"kim",
    b"wang",
    b"novak",
    b"weber",
    b"schmidt",
    b"rossi",
    b"dubois",
    b"silva",
    b"tanaka",
    b"ivanova",
];

pub(super) const INVALID_USERS: &[&[u8]] = &[
    b"admin",
    b"test",
    b"user",
    b"oracle",
    b"postgres",
    b"ubuntu",
    b"guest",
    b"ftpuser",
    b"pi",
    b"git",
    b"support",
    b"ubnt",
    b"mysql",
    b"deploy",
    b"jenkins",
    b"hadoop",
    b"minecraft",
    b"steam",
    b"demo",
    b"www",
    b"nagios",
    b"tomcat",
    b"ansible",
    b"vagrant",
];

pub(super) const SUDO_COMMANDS: &[&[u8]] = &[
    b"/usr/bin/systemctl restart nginx",
    b"/usr/bin/systemctl status postgresql",
    b"/usr/bin/apt-get update",
    b"/usr/bin/apt-get install -y htop",
    b"/usr/bin/journalctl -u nginx --since today",
    b"/usr/bin/tail -n 200 /var/log/syslog",
    b"/usr/bin/docker ps",
    b"/usr/bin/docker compose up -d",
    b"/usr/bin/vim /etc/nginx/sites-available/default",
    b"/usr/sbin/service cron reload",
    b"/usr/bin/du -sh /var/lib/docker",
    b"/bin/ls -la /var/log/nginx",
];

pub(super) const CRON_JOBS: &[(&[u8], &[u8])] = &[
    (b"root", b"   cd / && run-parts --report /etc/cron.hourly"),
    (b"root", b"[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi"),
    (b"root", b"command -v debian-sa1 > /dev/null && debian-sa1 1 1"),
    (b"root", b"/usr/local/bin/backup.sh > /dev/null 2>&1"),
    (b"www-data", b"php /var/www/html/cron.php > /dev/null 2>&1"),
    (b"postgres", b"/usr/local/bin/pg_dump_nightly.sh"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PageKind {
    Page,
    /// A page that also takes form posts.
    Form,
    Asset,
    Image,
    Api,
    /// The path ends in `/products/`; an id follows.
    Product,
    /// The path ends in `?q=`; a word and a page number follow.
    Search,
    /// The path ends in `/items/`; an id and a query follow.
    ApiItem,
}

// Ordered by popularity: `skewed` picks the first entries most.
pub(super) const PAGES: &[(&[u8], PageKind)] = &[
    (b"/", PageKind::Page),
    (b"/css/site.min.css", PageKind::Asset),
    (b"/js/app.min.js", PageKind::Asset),
    (b"/images/logo.png", PageKind::Image),
    (b"/products/", PageKind::Product),
    (b"/favicon.ico", PageKind::Image),
    (b"/search?q=", PageKind::Search),
    (b"/api/v1/cart", PageKind::Api),
    (b"/products", PageKind::Page),
    (b"/js/vendor.min.js", PageKind::Asset),
    (b"/api/v1/items/", PageKind::ApiItem),
    (b"/images/hero.jpg", PageKind::Image),
    (b"/login", PageKind::Form),
    (b"/account", PageKind::Form),
    (b"/cart", PageKind::Form),
    (b"/fonts/inter-var.woff2", PageKind::Asset),
    (b"/api/v1/session", PageKind::Api),
    (b"/blog/", PageKind::Page),
    (b"/blog/2023/12/winter-sale", PageKind::Page),
    (b"/about", PageKind::Page),
    (b"/contact", PageKind::Form),
    (b"/checkout", PageKind::Form),
    (b"/robots.txt", PageKind::Asset),
    (b"/sitemap.xml", PageKind::Asset),
    (b"/api/v1/recommendations", PageKind::Api),
    (b"/images/banner-2024.webp", PageKind::Image),
    (b"/help/shipping", PageKind::Page),
    (b"/help/returns", PageKind::Page),
    (b"/apple-touch-icon.png", PageKind::Image),
    (b"/feed.xml", PageKind::Asset),
];

/// Ids of discontinued products: the only product and item ids answered 404.
pub(super) const DISCONTINUED: &[u64] = &[1013, 1077, 1210, 1388, 2042, 2967, 3501, 4410];

/// Pages of the site that link to others, by popularity.
pub(super) const REFERRER_PATHS: &[&[u8]] =
    &[b"/", b"/products", b"/search?q=shoes", b"/products/1042", b"/cart", b"/blog/", b"/account", b"/products/1007", b"/checkout", b"/login"];

pub(super) const SEARCH_WORDS: &[&[u8]] = &[
    b"shoes",
    b"laptop",
    b"headphones",
    b"coffee+maker",
    b"usb-c+cable",
    b"backpack",
    b"running+shoes",
    b"monitor",
    b"desk+lamp",
    b"keyboard",
    b"gift+card",
    b"winter+jacket",
];

/// The first `BROWSERS` entries of [`USER_AGENTS`] are browsers; crawlers and tools follow.
pub(super) const BROWSERS: usize = 8;

pub(super) const USER_AGENTS: &[&[u8]] = &[
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    b"Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    b"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    b"curl/8.4.0",
    b"python-requests/2.31.0",
];

/// A benign process launch: fields already JSON-escaped.
pub(super) struct Proc {
    pub(super) image: &'static [u8],
    pub(super) command_line: &'static [u8],
    pub(super) parent: &'static [u8],
    pub(super) parent_command_line: &'static [u8],
    pub(super) system: bool,
}

const EXPLORER: &[u8] = br"C:\\Windows\\explorer.exe";
const SERVICES: &[u8] = br"C:\\Windows\\System32\\services.exe";

// Ordered by frequency: `skewed` picks the first entries most.
pub(super) const PROCS: &[Proc] = &[
    Proc { image: br"C:\\Windows\\System32\\svchost.exe", command_line: br"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", parent: SERVICES, parent_command_line: br"C:\\Windows\\system32\\services.exe", system: true },
    Proc { image: br"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", command_line: br#"\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer --lang=en-US --renderer-client-id=7"#, parent: br"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", parent_command_line: br#"\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\""#, system: false },
    Proc { image: br"C:\\Windows\\System32\\conhost.exe", command_line: br"\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: true },
    Proc { image: br"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", command_line: br#"\"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe\" --profile-directory=Default"#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\RuntimeBroker.exe", command_line: br"C:\\Windows\\System32\\RuntimeBroker.exe -Embedding", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: false },
    Proc { image: br"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", command_line: br#"\"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE\""#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\taskhostw.exe", command_line: br"taskhostw.exe {222A245B-E637-4AE9-A93F-A59CA119A75E}", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", system: false },
    Proc { image: br"C:\\Windows\\System32\\SearchProtocolHost.exe", command_line: br#"\"C:\\Windows\\system32\\SearchProtocolHost.exe\" Global\\UsGthrFltPipeMssGthrPipe5_ Global\\UsGthrCtrlFltPipeMssGthrPipe5 1 -2147483646 \"Software\\Microsoft\\Windows Search\""#, parent: br"C:\\Windows\\System32\\SearchIndexer.exe", parent_command_line: br"C:\\Windows\\system32\\SearchIndexer.exe /Embedding", system: true },
    Proc { image: br"C:\\Users\\Public\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe", command_line: br#"\"C:\\Users\\Public\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe\" --process-start-args \"--system-initiated\""#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\backgroundTaskHost.exe", command_line: br#"\"C:\\Windows\\system32\\backgroundTaskHost.exe\" -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca"#, parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: false },
    Proc { image: br"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", command_line: br#"\"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE\" /dde"#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\dllhost.exe", command_line: br"C:\\Windows\\system32\\DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: false },
    Proc { image: br"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", command_line: br#"\"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE\" /n"#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\notepad.exe", command_line: br#"\"C:\\Windows\\system32\\notepad.exe\""#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe", command_line: br#"\"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe\" /background"#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", command_line: br"C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: true },
    Proc { image: br"C:\\Program Files\\Git\\cmd\\git.exe", command_line: br"git fetch --all --prune", parent: br"C:\\Program Files\\Microsoft VS Code\\Code.exe", parent_command_line: br#"\"C:\\Program Files\\Microsoft VS Code\\Code.exe\""#, system: false },
    Proc { image: br"C:\\Windows\\System32\\MpCmdRun.exe", command_line: br#"\"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\MpCmdRun.exe\" SignatureUpdate -ScheduleJob"#, parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", system: true },
];

/// Indexes of [`PROCS`] entries that are services, the only launches on servers.
pub(super) const SERVER_PROCS: &[usize] = &[0, 2, 7, 15, 17];

pub(super) const NET_IMAGES: &[&[u8]] = &[
    br"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    br"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
    br"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
    br"C:\\Users\\Public\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
    br"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe",
    br"C:\\Windows\\System32\\svchost.exe",
];

/// A benign cross-process access (Sysmon 10), chosen to stay clear of credential-theft rules.
pub(super) struct Access {
    pub(super) source: &'static [u8],
    pub(super) target: &'static [u8],
    pub(super) granted: &'static [u8],
    pub(super) user_target: bool,
}

pub(super) const ACCESSES: &[Access] = &[
    Access { source: br"C:\\Windows\\system32\\svchost.exe", target: br"C:\\Windows\\system32\\lsass.exe", granted: b"0x1000", user_target: false },
    Access { source: br"C:\\Windows\\system32\\csrss.exe", target: br"C:\\Windows\\explorer.exe", granted: b"0x1fffff", user_target: true },
    Access { source: br"C:\\Windows\\system32\\wbem\\wmiprvse.exe", target: br"C:\\Windows\\system32\\svchost.exe", granted: b"0x1400", user_target: false },
    Access {
        source: br"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\MsMpEng.exe",
        target: br"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        granted: b"0x101541",
        user_target: true,
    },
    Access { source: br"C:\\Windows\\system32\\taskmgr.exe", target: br"C:\\Windows\\explorer.exe", granted: b"0x1400", user_target: true },
];

pub(super) const TCP_HISTORIES: &[&[u8]] = &[b"ShADadFf", b"ShADadfF", b"ShADdaFf", b"ShADadFRf"];

pub(super) const TICKET_OPTIONS: &[&[u8]] = &[b"0x40810000", b"0x40810000", b"0x40810000", b"0x60810010", b"0x40800000"];

pub(super) const SERVICE_ACCOUNTS: &[&[u8]] = &[b"svc_sql", b"svc_web", b"svc_backup", b"svc_sharepoint", b"svc_jenkins", b"svc_reporting"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        assert!(SERVER_PROCS.iter().all(|&i| PROCS[i].system));
        assert!(USER_AGENTS[..BROWSERS].iter().all(|ua| ua.starts_with(b"Mozilla/5.0 (") && !ua.windows(3).any(|w| w == b"bot")));
    }
}
