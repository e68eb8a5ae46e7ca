"""Word pools the generator draws from: names in several scripts, places, words."""

from __future__ import annotations

# (given names, family names) per script, so one contact's name stays in one script.
NAMES: list[tuple[list[str], list[str]]] = [
    (
        ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David"],
        ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Lopez"],
    ),
    (
        ["José", "María", "Zoë", "Françoise", "Björn", "Søren", "Ãngela", "Łukasz", "Dvořák"],
        ["Müller", "Núñez", "O'Brien", "García-Márquez", "Øvergård", "Çelik", "Żółć", "d'Arcy"],
    ),
    (
        ["Иван", "Ольга", "Дмитрий", "Наталья", "Сергей", "Анна", "Алексей"],
        ["Иванов", "Петрова", "Смирнов", "Кузнецова", "Попов", "Соколова"],
    ),
    (["Γιώργος", "Ελένη", "Νίκος", "Μαρία"], ["Παπαδόπουλος", "Οικονόμου", "Γεωργίου"]),
    (["محمد", "فاطمة", "أحمد", "ليلى"], ["العلي", "حسن", "الخطيب", "منصور"]),
    (["דוד", "שרה", "יוסף", "רחל"], ["כהן", "לוי", "מזרחי", "פרץ"]),
    (["伟", "芳", "娜", "秀英", "敏"], ["王", "李", "张", "刘", "陈"]),
    (["太郎", "花子", "さくら", "健一"], ["佐藤", "鈴木", "高橋", "田中"]),
    (["민준", "서연", "지호", "하은"], ["김", "이", "박", "최"]),
    (["आरव", "अनन्या", "विवान", "दिया"], ["शर्मा", "वर्मा", "पटेल", "गुप्ता"]),
    (["สมชาย", "สุดา", "ประเสริฐ"], ["ใจดี", "สุขสันต์", "รุ่งเรือง"]),
    (["Nguyễn Văn", "Trần Thị", "Lê Minh"], ["Nguyễn", "Trần", "Lê", "Phạm"]),
]
# Name scripts are weighted: most contacts are Latin-script, some are not.
NAME_WEIGHTS = [40, 20, 8, 3, 5, 3, 6, 4, 4, 3, 2, 2]

MIDDLE_NAMES = ["A.", "Lee", "Marie", "J.", "Ann", "Ray", "Émile", "Jo"]
PREFIXES = ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]
SUFFIXES = ["Jr.", "Sr.", "II", "III", "PhD", "MD"]
JOB_TITLES = [
    "Owner",
    "CEO",
    "Marketing Manager",
    "Sales Director",
    "Office Manager",
    "Bookkeeper",
    "Consultant",
    "Head of Growth & Partnerships, EMEA",
    "",
]
CONTACT_TYPES = ["Lead", "Customer", "Other", "Prospect", "Partner"]
TIME_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Phoenix",
    "Europe/London",
    "Asia/Tokyo",
]
LOCALES = ["en_US", "en_GB", "es_MX", "fr_FR", "de_DE", "ja_JP"]
EMAIL_DOMAINS = ["example.com", "mail.example.org", "test.example.net", "ex.example.co.uk"]
EMAIL_LOCALS = ["info", "hello", "sales", "jo.smith", "j_doe", "office", "m+keap", "first.last"]
OPT_STATUSES = [
    "UNENGAGED_MARKETABLE",
    "SINGLE_OPT_IN",
    "DOUBLE_OPT_IN",
    "CONFIRMED",
    "NON_MARKETABLE",
]
PHONE_TYPES = ["Work", "Mobile", "Home", "Other"]
SOURCE_TYPES = ["API", "IMPORT", "MANUAL", "WEBFORM", "LANDING_PAGE", "APPOINTMENT"]

# (line1 streets, locality, region_code, country_code, postal code pattern)
PLACES: list[tuple[str, str, str, str]] = [
    ("Chandler", "US-AZ", "USA", "85224"),
    ("Phoenix", "US-AZ", "USA", "85001"),
    ("Springfield", "US-IL", "USA", "62701"),
    ("Austin", "US-TX", "USA", "73301"),
    ("Toronto", "CA-ON", "CAN", "M5H 2N2"),
    ("London", "GB-LND", "GBR", "SW1A 1AA"),
    ("München", "DE-BY", "DEU", "80331"),
    ("São Paulo", "BR-SP", "BRA", "01000-000"),
    ("Mumbai", "IN-MH", "IND", "400001"),
    ("東京", "JP-13", "JPN", "100-0001"),
]
STREETS = ["Main St", "Oak Ave", "Elm Street", "Hauptstraße", "Rua Augusta", "Baker St", "銀座"]

COMPANY_WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Ünïcode",
    "北辰",
    "Nord",
]
COMPANY_SUFFIXES = ["LLC", "Inc.", "GmbH", "Ltd", "& Sons", "Co.", "S.A."]

WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "follow",
    "up",
    "call",
    "quote",
    "invoice",
    "renewal",
    "meeting",
    "demo",
    "pricing",
    "discount",
    "shipping",
    "delayed",
    "customer",
    "asked",
    "about",
    "bundle",
    "upgrade",
    "annual",
    "plan",
    "café",
    "résumé",
    "naïve",
    "東京",
    "встреча",
    "παράδειγμα",
]

USERS: list[tuple[str, str, str]] = [
    ("1", "Alice", "Admin"),
    ("2", "Bob", "Sales"),
    ("3", "Carla", "Support"),
    ("4", "Dan", "Marketing"),
    ("5", "Eve", "Owner"),
]

STAGES: list[tuple[str, str, int]] = [
    ("1", "New Lead", 10),
    ("2", "Qualified", 25),
    ("3", "Proposal Sent", 50),
    ("4", "Negotiation", 75),
    ("5", "Won", 100),
    ("6", "Lost", 0),
]

TASK_TYPES = ["Call", "Email", "Appointment", "Fax", "Letter", "Other"]
NOTE_TYPES = ["Call", "Email", "Fax", "Letter", "Appointment", "Other"]
TAG_CATEGORIES = ["1", "2", "3", "4"]
PRODUCT_WORDS = ["Widget", "Gadget", "Course", "Coaching", "Membership", "E-book", "Kit"]
