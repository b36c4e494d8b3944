"""Pools of realistic values for bench/generate.py: names, companies, places, texts.

A million rows drawn from a few tens of thousands of distinct names keep the generator fast
(Faker makes about 1,500 rows/s; pinyin is computed once per distinct name) while staying
realistic: common family names are common, 张伟 appears many times, most given names are
two characters. The raw material (family names with their frequencies, given-name
characters) comes from Faker's zh_CN and en_US providers.
"""

import random

from faker.providers.company.zh_CN import Provider as ZhCompany
from faker.providers.person.en_US import Provider as EnPerson
from faker.providers.person.zh_CN import Provider as ZhPerson

# Characters common in given names, beyond Faker's list of whole given names.
GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国"
    "文辉力成峰亮玉萍红娥玲芬燕彩春菊凤洁梅琳素云莲真环雪荣爱妹香月莺媛瑞凡佳嘉琼勤珍贞莉"
    "晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园"
    "艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思"
    "丽志新兵德永世光松富生龙元全国胜学祥才发武清山仁波宁贵福晨振博雨泽子轩梓涵一诺沐"
)

# (province, region, [(city, [districts])]) with a weight: where the customers are.
PLACES = [
    (
        "广东省",
        "华南",
        11,
        [
            ("广州市", ["天河区", "越秀区", "海珠区", "番禺区"]),
            ("深圳市", ["南山区", "福田区", "宝安区", "龙岗区"]),
            ("东莞市", []),
            ("佛山市", ["南海区", "顺德区"]),
        ],
    ),
    (
        "江苏省",
        "华东",
        9,
        [
            ("南京市", ["鼓楼区", "玄武区", "江宁区"]),
            ("苏州市", ["姑苏区", "工业园区", "昆山市"]),
            ("无锡市", ["滨湖区"]),
            ("常州市", []),
        ],
    ),
    (
        "浙江省",
        "华东",
        8,
        [
            ("杭州市", ["西湖区", "滨江区", "余杭区", "拱墅区"]),
            ("宁波市", ["鄞州区", "海曙区"]),
            ("温州市", []),
            ("义乌市", []),
        ],
    ),
    ("上海市", "华东", 8, [("上海市", ["浦东新区", "徐汇区", "静安区", "闵行区", "长宁区", "杨浦区"])]),
    ("北京市", "华北", 7, [("北京市", ["朝阳区", "海淀区", "东城区", "西城区", "丰台区"])]),
    (
        "山东省",
        "华东",
        6,
        [("济南市", ["历下区", "市中区"]), ("青岛市", ["市南区", "崂山区"]), ("烟台市", [])],
    ),
    ("四川省", "西南", 5, [("成都市", ["武侯区", "锦江区", "高新区", "青羊区"]), ("绵阳市", [])]),
    ("河南省", "华中", 4, [("郑州市", ["金水区", "二七区"]), ("洛阳市", [])]),
    ("湖北省", "华中", 4, [("武汉市", ["武昌区", "江汉区", "洪山区"]), ("宜昌市", [])]),
    ("福建省", "华东", 4, [("福州市", ["鼓楼区"]), ("厦门市", ["思明区", "湖里区"]), ("泉州市", [])]),
    ("湖南省", "华中", 3, [("长沙市", ["岳麓区", "芙蓉区", "天心区"])]),
    ("天津市", "华北", 2, [("天津市", ["和平区", "南开区", "滨海新区"])]),
    ("重庆市", "西南", 3, [("重庆市", ["渝中区", "江北区", "九龙坡区"])]),
    ("河北省", "华北", 2, [("石家庄市", []), ("保定市", [])]),
    ("安徽省", "华东", 2, [("合肥市", ["蜀山区", "包河区"])]),
    ("陕西省", "西北", 2, [("西安市", ["雁塔区", "碑林区"])]),
    ("辽宁省", "东北", 2, [("沈阳市", ["和平区"]), ("大连市", ["中山区"])]),
    ("江西省", "华中", 1, [("南昌市", [])]),
    ("广西壮族自治区", "华南", 1, [("南宁市", [])]),
    ("云南省", "西南", 1, [("昆明市", [])]),
    ("黑龙江省", "东北", 1, [("哈尔滨市", [])]),
    ("吉林省", "东北", 1, [("长春市", [])]),
    ("山西省", "华北", 1, [("太原市", [])]),
    ("贵州省", "西南", 1, [("贵阳市", [])]),
    ("海南省", "华南", 1, [("海口市", [])]),
]
ABROAD = ["Singapore", "Hong Kong", "London", "New York", "Sydney", "Toronto", "Frankfurt", "Tokyo", "Dubai"]
STREETS = "人民解放中山建设和平长江黄河南京淮海延安世纪科技文化花园新华光明朝阳东风建国复兴"
STREET_SUFFIXES = ["路", "街", "大道", "北路", "南路", "东路", "西路"]
EN_STREETS = [
    "Main Street",
    "Oak Avenue",
    "Queen's Road",
    "Orchard Road",
    "King Street",
    "Park Lane",
    "High Street",
]
INDUSTRY_WORDS = [
    "科技",
    "贸易",
    "电子",
    "食品",
    "建材",
    "物流",
    "网络",
    "信息技术",
    "医疗器械",
    "服饰",
    "餐饮管理",
    "机械",
    "文化传媒",
    "新能源",
    "家居",
]
COMPANY_SUFFIXES = ["有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司"]
EN_COMPANY_SUFFIXES = ["Ltd", "Inc", "LLC", "Trading Co.", "Group", "& Partners", "Holdings", "Pte Ltd"]
INDUSTRIES = [
    "零售",
    "制造业",
    "餐饮",
    "教育",
    "医疗",
    "物流",
    "软件",
    "金融",
    "房地产",
    "建筑",
    "电子商务",
    "汽车",
    "能源",
    "农业",
    "传媒",
    "Retail",
    "Manufacturing",
    "Logistics",
]
TITLES = [
    "总经理",
    "采购经理",
    "销售总监",
    "财务主管",
    "行政专员",
    "技术总监",
    "店长",
    "项目经理",
    "人事经理",
    "运营总监",
    "董事长",
    "采购专员",
]
EN_TITLES = [
    "Purchasing Manager",
    "CEO",
    "CFO",
    "Office Manager",
    "Operations Director",
    "IT Manager",
    "Founder",
]
MAIL_DOMAINS = ["qq.com", "qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "139.com", "gmail.com"]
EN_MAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com"]
PREFERENCES = [
    "",
    "下午联系",
    "只接受微信沟通",
    "周末勿扰",
    "需要开增值税专用发票",
    "送货前请电话确认",
    "Prefers email",
    "偏好线上下单",
]
NOTES = ["", "老客户介绍", "展会上认识", "对价格比较敏感", "决策人是采购部", "Met at the Canton Fair"]
TAGS = [
    ("重要客户", "danger"),
    ("价格敏感", "warning"),
    ("线上渠道", "info"),
    ("华东", "primary"),
    ("华北", "primary"),
    ("华南", "primary"),
    ("老带新", "success"),
    ("经销商", "dark"),
    ("政府采购", "secondary"),
    ("年度框架", "success"),
    ("Wholesale", "dark"),
    ("Newsletter", "secondary"),
]

INTERACTION_SUMMARIES = {
    "contact": [
        "电话回访，客户对产品满意",
        "发送最新报价单",
        "客户询问交货期",
        "上门拜访，介绍新品",
        "微信沟通续约事宜",
        "确认下季度采购计划",
        "邀请参加新品发布会",
        "节日问候",
        "跟进样品试用情况",
        "核对开票信息",
        "Follow-up call about the renewal",
        "Sent the updated price list",
        "Demo of the new model",
    ],
    "feedback": ["客户建议增加夜间配送", "反馈新包装更方便", "希望提供电子发票", "Asked for a bulk discount"],
    "complaint": ["投诉配送延迟", "反馈包装破损", "发票信息有误", "售后响应太慢", "Delivery arrived damaged"],
}
OUTCOMES = ["", "", "客户同意下周下单", "需再次跟进", "已解决", "Will order next month"]
NEXT_STEPS = [
    "",
    "",
    "",
    "下周再次电话跟进",
    "发送合同草稿",
    "安排技术人员上门",
    "Call back after their budget meeting",
]
TICKET_SUBJECTS = {
    "inquiry": ["咨询产品规格", "询问发票开具", "咨询批量价格", "Question about delivery times"],
    "complaint": ["配送延迟投诉", "产品质量投诉", "服务态度投诉", "Damaged goods on arrival"],
    "after_sales": ["申请退换货", "安装预约", "保修咨询", "Warranty claim"],
    "fault": ["设备无法开机", "打印机卡纸", "系统登录失败", "Monitor flickers"],
    "other": ["修改收货地址", "更新联系人", "Change of billing address"],
}
TASK_TITLES = [
    "电话回访",
    "发送报价",
    "确认订单",
    "上门拜访",
    "核实客户资料",
    "催收尾款",
    "节日问候",
    "Send the contract",
    "Follow up on the quote",
]
OPPORTUNITY_TITLES = [
    "年度办公家具采购",
    "新办公室整体配置",
    "CRM 系统升级",
    "员工福利礼盒",
    "会议室改造项目",
    "全年耗材框架协议",
    "生产线设备更新",
    "Annual supply contract",
    "IT equipment refresh",
    "Trade show gift boxes",
]
NEEDS = ["", "预算约 20 万，年底前交付", "需要分批到货", "关注售后服务响应时间", "Needs delivery before Q3"]
LOST_REASONS = [
    "价格高于客户预算",
    "选择了竞争对手",
    "项目取消",
    "客户内部采购流程变动",
    "Decision postponed",
]
PRODUCT_CATEGORIES = {
    "办公家具": ["人体工学办公椅", "电动升降办公桌", "八人会议桌", "文件柜", "前台接待台"],
    "办公耗材": ["A4 复印纸（5 包/箱）", "激光打印机硒鼓", "中性笔（100 支）", "档案盒（50 个）"],
    "礼品": ["西湖龙井礼盒", "中秋定制礼盒", "春节年货大礼包", "定制保温杯"],
    "IT 设备": ["27 英寸 4K 显示器", "无线键鼠套装", "商务笔记本电脑", "网络交换机", "Wireless headset"],
    "服务": ["上门安装调试", "延长保修一年", "CRM 年度许可（每席位）", "IT 运维服务（月）"],
}


class Pools:
    """Distinct values to draw from, built from a seed (the same seed gives the same pools)."""

    def __init__(self, seed: int, cn_names: int = 30000, en_names: int = 6000, companies: int = 9000):
        rng = random.Random(seed)
        families = list(ZhPerson.last_names)
        family_weights = list(ZhPerson.last_names.values())
        given_chars = sorted(set(GIVEN_CHARS) | {c for n in ZhPerson.first_names for c in n})
        given_whole = list(ZhPerson.first_names)
        names: set[str] = set()
        while len(names) < cn_names:
            family = rng.choices(families, family_weights)[0]
            roll = rng.random()
            if roll < 0.25:
                given = rng.choice(given_whole)
            elif roll < 0.45:
                given = rng.choice(given_chars)
            else:
                given = rng.choice(given_chars) + rng.choice(given_chars)
            names.add(family + given)
        self.cn_names = sorted(names)
        first = list(EnPerson.first_names)
        last = list(EnPerson.last_names)
        en: set[str] = set()
        while len(en) < en_names:
            en.add(f"{rng.choice(first)} {rng.choice(last)}")
        self.en_names = sorted(en)
        cities = [city for _p, _r, _w, cs in PLACES for city, _d in cs]
        self.company_city: dict[str, str] = {}
        while len(self.company_city) < companies * 4 // 5:
            city = rng.choice(cities)
            brand = rng.choice(ZhCompany.company_prefixes)
            if len(brand) > 2 and rng.random() < 0.5:
                brand = brand[:2]
            name = (
                f"{city.removesuffix('市')}{brand}{rng.choice(INDUSTRY_WORDS)}{rng.choice(COMPANY_SUFFIXES)}"
            )
            self.company_city[name] = city
        self.cn_companies = sorted(self.company_city)
        en_companies: set[str] = set()
        while len(en_companies) < companies // 5:
            en_companies.add(f"{rng.choice(last)} {rng.choice(EN_COMPANY_SUFFIXES)}")
        self.en_companies = sorted(en_companies)
        self.places = [(p, r, c, d) for p, r, _w, cs in PLACES for c, d in cs]
        self.place_by_city = {place[2]: place for place in self.places}
        self.place_weights = [w / len(cs) for _p, _r, w, cs in PLACES for _c in cs]
