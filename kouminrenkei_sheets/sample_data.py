"""Realistic sample data for the demo, tests and benchmarks: a desk's register over several 年度.

Deterministic for a seed. Partners are fictional; departments and municipalities follow Ibaraki's.
A share of entries is typed the messy ways staff really type (和暦, full-width digits, stray spaces).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from .schema import (
    DEPARTMENTS,
    FIELDS,
    MUNICIPALITIES,
    PROPOSALS,
    REFERRALS,
    Answer,
    Direction,
    Method,
    Publication,
    Status,
)
from .store.base import AppendRows, CellValue, SheetRef, Store
from .values import fiscal_year, proposal_id, referral_id, to_wareki, to_wareki_short

SAMPLE_DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("防災・危機管理部", "防災・危機管理課"),
    ("県民生活環境部", "環境政策課"),
    ("福祉部", "少子化対策課"),
    ("福祉部", "長寿福祉課"),
    ("保健医療部", "健康推進課"),
    ("営業戦略部", "観光戦略課"),
    ("営業戦略部", "販売流通課"),
    ("産業戦略部", "産業政策課"),
    ("農林水産部", "農業政策課"),
    ("土木部", "道路維持課"),
    ("教育庁", "高校教育課"),
    ("政策企画部", "デジタル戦略課"),
)

# (name, 区分, 所在地, 代表者役職, 代表者氏名) — all fictional
SAMPLE_PARTNERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("株式会社常陸ストア", "企業", "茨城県水戸市南町二丁目3番1号", "代表取締役社長", "桜井 誠一"),
    ("株式会社霞ヶ浦フーズ", "企業", "茨城県土浦市川口一丁目5番8号", "代表取締役", "湊 美和"),
    ("水戸みらい生命保険株式会社", "企業", "茨城県水戸市三の丸一丁目4番2号", "取締役社長", "久慈 健"),
    ("いばらき中央銀行株式会社", "金融機関", "茨城県水戸市中央二丁目1番10号", "頭取", "那珂川 修"),
    ("県南信用金庫", "金融機関", "茨城県つくば市竹園一丁目2番3号", "理事長", "小貝 順子"),
    ("国立大学法人つくば先端科学大学", "大学・研究機関", "茨城県つくば市天王台9丁目1番1号", "学長", "筑波 光"),
    ("学校法人ひたち学園", "大学・研究機関", "茨城県日立市幸町4丁目12番1号", "理事長", "鮎川 達也"),
    ("株式会社筑波ロジスティクス", "企業", "茨城県つくばみらい市紫峰ヶ丘3丁目7番", "代表取締役", "谷田部 亮"),
    ("鹿島臨海エナジー株式会社", "企業", "茨城県神栖市東和田18番地", "代表取締役社長", "大野 港"),
    ("NPO法人ひたち子育て応援団", "NPO・市民団体", "茨城県ひたちなか市東石川3丁目1番", "理事長", "勝田 あゆみ"),
    ("一般社団法人いばらき観光ネット", "経済団体・組合", "茨城県水戸市宮町1丁目7番33号", "代表理事", "偕楽 園子"),
    ("県央農業協同組合", "経済団体・組合", "茨城県笠間市石井2021番地", "代表理事組合長", "稲田 豊"),
    ("株式会社北関東コンビニエンス", "企業", "茨城県古河市本町2丁目6番11号", "代表取締役", "渡良瀬 拓"),
    ("常総ドラッグ株式会社", "企業", "茨城県常総市水海道宝町2830番地", "代表取締役社長", "鬼怒 久美子"),
    ("株式会社ひたちなかデジタル", "企業", "茨城県ひたちなか市新光町38番", "代表取締役CEO", "阿字ヶ浦 翔"),
    ("大洗マリンサービス株式会社", "企業", "茨城県東茨城郡大洗町港中央11番地", "代表取締役", "磯浜 大地"),
    ("株式会社ネクストモビリティ茨城", "企業", "茨城県日立市大みか町5丁目2番1号", "代表取締役", "河原子 蓮"),
    ("公益財団法人いばらき健康づくり財団", "NPO・市民団体", "茨城県水戸市笠原町489番5号", "理事長", "千波 湖子"),
)

_THEMES: dict[str, tuple[str, ...]] = {
    "健康増進・福祉": ("店舗での健康相談会の開催", "高齢者の見守り活動", "減塩メニューの共同開発"),
    "観光・産業振興": ("県産品フェアの開催", "工場夜景ツアーの造成", "新たな観光ルートの開発"),
    "安全・安心": ("交通安全教室の共催", "特殊詐欺被害防止キャンペーン", "子ども110番の家の拡充"),
    "イメージアップ": ("県の魅力の共同情報発信", "県産品を使ったノベルティ制作", "SNSキャンペーン"),
    "災害対策": ("災害時の物資供給協力", "避難所への電源車派遣", "帰宅困難者支援"),
    "子育て・教育": ("出前授業の実施", "子育て応援パスポートの協賛拡大", "職業体験プログラム"),
    "環境": ("プラスチックごみ削減の取組", "EV充電網の整備協力", "霞ヶ浦の水質保全活動"),
    "農林水産": ("県産農産物の販路拡大", "常陸牛の輸出促進", "地産地消メニューの提供"),
    "地域活性化": ("空き店舗を活用した交流拠点", "移住相談会の共催", "地域おこし人材の育成"),
    "DX": ("行政手続のオンライン化支援", "データ連携基盤の実証", "デジタル人材育成講座"),
}

_FIELD_DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "健康増進・福祉": ("健康推進課", "長寿福祉課"),
    "観光・産業振興": ("観光戦略課", "販売流通課", "産業政策課"),
    "安全・安心": ("防災・危機管理課", "道路維持課"),
    "イメージアップ": ("販売流通課", "観光戦略課"),
    "災害対策": ("防災・危機管理課",),
    "子育て・教育": ("少子化対策課", "高校教育課"),
    "環境": ("環境政策課",),
    "農林水産": ("農業政策課", "販売流通課"),
    "地域活性化": ("産業政策課", "観光戦略課"),
    "DX": ("デジタル戦略課",),
}

_CONTACTS = ("佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健太", "伊藤 由美", "渡辺 翔", "山本 彩", "中村 大輔")


def corporate_number(rng: random.Random) -> str:
    """A random 法人番号 with a correct check digit."""
    base = [rng.randint(0, 9) for _ in range(12)]
    total = sum(d * (1 if n % 2 else 2) for n, d in enumerate(reversed(base), start=1))
    return str(9 - total % 9) + "".join(map(str, base))


@dataclass
class SampleRegister:
    proposals: list[dict[str, CellValue]] = field(default_factory=list)
    referrals: list[dict[str, CellValue]] = field(default_factory=list)
    departments: list[dict[str, CellValue]] = field(default_factory=list)


def _messy_date(rng: random.Random, d: date, messy: float) -> CellValue:
    if rng.random() >= messy:
        return d
    form = rng.randrange(5)
    if form == 0:
        return to_wareki_short(d)  # R7.4.1
    if form == 1:
        return to_wareki(d).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if form == 2:
        return f"{d.year}/{d.month}/{d.day} "
    if form == 3:
        return f"{d.year}年{d.month}月{d.day}日"
    return to_wareki(d)


def _messy_choice(rng: random.Random, value: str, messy: float) -> str:
    if rng.random() >= messy:
        return value
    return rng.choice((f" {value}", f"{value}　", value.replace("・", "･")))


def generate(
    n: int = 60,
    *,
    seed: int = 7,
    today: date | None = None,
    years: int = 3,
    messy: float = 0.08,
    departments: tuple[tuple[str, str], ...] = SAMPLE_DEPARTMENTS,
    partners: tuple[tuple[str, str, str, str, str], ...] = SAMPLE_PARTNERS,
) -> SampleRegister:
    """``n`` proposals spread over the last ``years`` 年度 up to ``today``, with their referrals.

    Long on purpose (~100 lines): each proposal's life from 受付 to 協定 is told top to bottom with the
    seeded generator's draws in one fixed order; split up, a change in one part would reorder the
    draws and change every sample register (and the demo, README and tests built on seed 7)."""
    rng = random.Random(seed)
    today = today or date.today()
    out = SampleRegister()
    dept_names = [d for _, d in departments]
    for bureau, name in departments:
        slug = f"renkei-{dept_names.index(name) + 1:02d}"
        out.departments.append({"部局": bureau, "課": name, "連絡先メール": f"{slug}@pref.example.jp"})

    fy_now = fiscal_year(today)
    first_fy = fy_now - years + 1
    counters: dict[int, int] = {}
    used: set[tuple[str, str]] = set()
    days_in_window = (today - date(first_fy, 4, 1)).days
    recent = n // 4  # a desk's current work: proposals of the last weeks, still open
    receipts = sorted(
        [date(first_fy, 4, 1) + timedelta(days=rng.randrange(max(days_in_window - 7, 1))) for _ in range(n - recent)]
        + [today - timedelta(days=rng.randrange(1, max(2, min(80, days_in_window)))) for _ in range(recent)]
    )
    for received in receipts:
        fy = fiscal_year(received)
        counters[fy] = counters.get(fy, 0) + 1
        pid = proposal_id(fy, counters[fy])
        age = (today - received).days
        to_partner = rng.random() < 0.15
        fields = rng.sample(FIELDS, k=rng.choice((1, 1, 2, 3)))
        method = rng.choices(Method.ALL, weights=(2, 3, 5, 1))[0]
        if len(fields) >= 3 and rng.random() < 0.7:
            method = Method.COMPREHENSIVE
        if to_partner:  # a department's call to partners: projects, not agreements, in this sample
            method = rng.choice((Method.NO_AGREEMENT, Method.UNDECIDED))
        status = _pick_status(rng, age, method)
        if to_partner:
            proposer = rng.choice([d for d in _FIELD_DEPARTMENTS[fields[0]] if d in dept_names] or dept_names)
            partner_row = (proposer, "県庁各課", "茨城県水戸市笠原町978番6", "課長", "")
        else:
            partner_row = rng.choice(partners)
        name, kind, address, title, rep = partner_row
        # one proposer rarely proposes the same thing twice: pick a theme it has not used yet
        themes = [t for f in fields for t in _THEMES[f] if (name, t) not in used] or list(_THEMES[fields[0]])
        theme = rng.choice(themes)
        used.add((name, theme))
        subject = theme if to_partner else f"{theme}に関する連携"
        row: dict[str, CellValue] = {
            "提案ID": pid,
            "受付日": _messy_date(rng, received, messy),
            "提案方向": Direction.PREFECTURE_TO_PARTNER if to_partner else Direction.PARTNER_TO_PREFECTURE,
            "提案種別": rng.choice(("フリー型", "フリー型", "テーマ型")),
            "提案者区分": kind,
            "提案者名": name,
            "法人番号": None if to_partner or kind == "NPO・市民団体" else corporate_number(rng),
            "所在地": address,
            "代表者役職": title,
            "代表者氏名": rep or None,
            "担当者": rng.choice(_CONTACTS),
            "メール": f"contact{rng.randrange(100, 999)}@example.co.jp",
            "電話": f"029-{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
            "件名": subject,
            "概要": (
                f"{name}から企業等に{theme}での連携を呼びかける。"
                if to_partner
                else f"{name}と県が連携し、{theme}に取り組む。"
            )
            + _outline(rng, fields),
            "連携分野": "、".join(_messy_choice(rng, f, messy) for f in fields),
            "連携手法": method,
            "関係市町村": "、".join(rng.sample(MUNICIPALITIES, k=rng.choice((0, 0, 1, 2)))) or None,
            "ステータス": _messy_choice(rng, status, messy),
            "アイデア保護": rng.choice((None,) * 6 + ("概要",) * 2 + ("件名、概要", "備考")),
            "公表": None,
        }
        refs = _referrals(rng, out, pid, received, status, fields, to_partner, partners, today)
        if status in Status.PUBLISHED:
            answered = [d for r in refs if isinstance(d := r.get("回答日"), date)]
            base = max([received, *answered])
            signed = min(base + timedelta(days=rng.randrange(14, 60)), today - timedelta(days=1))
            row["公表"] = rng.choices(Publication.ALL, weights=(8, 1, 1))[0]
            row["公表日"] = signed
            if method in Method.AGREEMENTS:
                row["協定締結日"] = _messy_date(rng, signed, messy)
                row["協定開始日"] = signed
                row["協定終了日"] = date(signed.year + rng.choice((1, 3)), signed.month, 1) - timedelta(days=1)
                row["自動更新"] = rng.choice(("あり", "なし"))
        elif status == Status.COORDINATING and method in Method.AGREEMENTS:
            planned = today + timedelta(days=rng.randrange(10, 40))  # the signing being arranged
            row["協定締結日"] = planned
            row["協定開始日"] = planned
            row["協定終了日"] = date(planned.year + 1, 3, 31)
            row["自動更新"] = "あり"
        out.proposals.append(row)
    return out


def _outline(rng: random.Random, fields: list[str]) -> str:
    extra = "、".join(fields)
    return rng.choice(
        (
            f"{extra}の分野で県民サービスの向上を図る。",
            f"双方の強みを生かし、{extra}の取組を県内全域に広げる。",
            f"{extra}に関する地域課題の解決に向け、実証から始める。",
        )
    )


def _pick_status(rng: random.Random, age: int, method: str) -> str:
    if age < 20:
        return rng.choice((Status.RECEIVED, Status.CHECKING, Status.REFERRED))
    done = Status.AGREED if method in Method.AGREEMENTS else Status.IMPLEMENTING
    if age < 90:
        return rng.choices(
            (Status.REFERRED, Status.COORDINATING, done, Status.FAILED, Status.ON_HOLD),
            weights=(5, 4, 2, 1, 1),
        )[0]
    return rng.choices(
        (Status.COORDINATING, done, Status.IMPLEMENTING, Status.COMPLETED, Status.FAILED, Status.WITHDRAWN),
        weights=(2, 5, 3, 3, 2, 1),
    )[0]


def _referrals(
    rng: random.Random,
    out: SampleRegister,
    pid: str,
    received: date,
    status: str,
    fields: list[str],
    to_partner: bool,
    partners: tuple[tuple[str, str, str, str, str], ...],
    today: date,
) -> list[dict[str, CellValue]]:
    if status in (Status.RECEIVED, Status.CHECKING):
        return []
    if to_partner:
        targets = [p[0] for p in rng.sample(partners, k=rng.choice((1, 2)))]
    else:
        pool = sorted({d for f in fields for d in _FIELD_DEPARTMENTS[f]})
        targets = rng.sample(pool, k=min(len(pool), rng.choice((1, 1, 2, 3))))
    referred = min(received + timedelta(days=rng.randrange(2, 12)), today)
    rows: list[dict[str, CellValue]] = []
    yes_given = False
    for i, target in enumerate(targets, start=1):
        due = referred + timedelta(days=30)
        answer, answered = _answer(rng, status, referred, today, last=i == len(targets), yes_given=yes_given)
        yes_given = yes_given or answer == Answer.YES
        row: dict[str, CellValue] = {
            "照会ID": referral_id(pid, i),
            "提案ID": pid,
            "照会先": target,
            "照会日": referred,
            "回答期限": due,
            "回答": answer,
            "回答日": answered,
            "回答理由・コメント": _reason(rng, answer),
            "先方担当者": rng.choice(_CONTACTS) if answer != Answer.NONE else None,
            "次回予定日": today + timedelta(days=rng.randrange(3, 40)) if answer == Answer.DISCUSS else None,
        }
        rows.append(row)
    out.referrals.extend(rows)
    return rows


def _answer(
    rng: random.Random, status: str, referred: date, today: date, *, last: bool, yes_given: bool
) -> tuple[str, date | None]:
    span = max((today - referred).days, 1)
    when = referred + timedelta(days=min(rng.randrange(3, 35), span))
    when = min(when, today)
    if status == Status.REFERRED:
        answer = rng.choices((Answer.NONE, Answer.EXAMINING, Answer.DISCUSS, Answer.NO), weights=(4, 3, 1, 1))[0]
    elif status == Status.FAILED:
        answer = Answer.NO
    elif status in (Status.WITHDRAWN, Status.ON_HOLD):
        answer = rng.choice((Answer.EXAMINING, Answer.DISCUSS, Answer.NO))
    else:
        answer = Answer.YES if (last and not yes_given) else rng.choice((Answer.YES, Answer.YES, Answer.NO))
    return answer, (None if answer in (Answer.NONE, Answer.EXAMINING) else when)


def _reason(rng: random.Random, answer: str) -> str | None:
    reasons = {
        Answer.YES: ("既存事業と連携して実施可能", "来年度の事業計画に位置付けて実施", "県民への効果が大きい"),
        Answer.NO: ("本年度は予算・人員の確保が困難", "同種の協定を他社と締結済みのため", "所管外のため"),
        Answer.DISCUSS: ("実施時期について協議が必要", "費用負担の整理が必要",),
        Answer.EXAMINING: ("関係課と調整中",),
    }  # fmt: skip
    options = reasons.get(answer)
    return rng.choice(options) if options else None


def write_sample(store: Store, sample: SampleRegister) -> None:
    """Append the sample to the register's 提案, 照会 and 担当課 tabs in one write."""
    store.apply(
        [
            AppendRows(SheetRef(DEPARTMENTS), tuple(sample.departments)),
            AppendRows(SheetRef(PROPOSALS), tuple(sample.proposals)),
            AppendRows(SheetRef(REFERRALS), tuple(sample.referrals)),
        ]
    )
